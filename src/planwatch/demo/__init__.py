"""The synthetic demo generators: the demo one map's control lines and zones (``onemap``), the layers
the spatial indicators need (``indicator_layers``), a street grid (``streets``), an illustrative year of
the quota ledger (``ledger``) and the evidence file of the findings cycle (``evidence``). Deterministic,
and everything they draw is labelled synthetic (示意数据（非官方）) wherever it is stored or shown."""
