"""The quota ledger (流量池, 减量, 增减挂钩, 拆占比): pure rules, amounts, postings and the audit.

- :mod:`~planwatch.ledger.rules`: ``ledger.yaml`` as validated data (quotas, chart, caps, ratio, schedule);
- :mod:`~planwatch.ledger.amounts`: amounts as whole steps of a quota's unit;
- :mod:`~planwatch.ledger.post`: what each operation posts, and the caps it must keep;
- :mod:`~planwatch.ledger.audit`: ``ledger check``, every balance and invariant from the entries.

The store (:mod:`planwatch.store.ledger`) writes what these decide; nothing here does I/O.
"""
