"""The check-up findings register (问题清单 → 交办 → 整改 → 销号): each problem a check-up finds becomes a
finding, assigned to a responsible unit with a deadline, rectified with evidence, verified by someone
else and signed off.

- ``machine``: the states and the transition table (pure data, and the one function that reads it);
- ``generate``: the year's problems (red and yellow targets, failed rules, review conflicts, targets
  without data) as candidate findings, with the plan's article and the suggested unit;
- ``evidence``: which evidence files are accepted (type, size);
- ``view``: the register as people read it, overdue computed on the check date;
- ``xlsx``: the 问题清单 workbook a bureau circulates.

The store keeps the findings (``planwatch.store.findings``); ``planwatch.services.findings`` joins
the two for the CLI (and the web API).
"""
