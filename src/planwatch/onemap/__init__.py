"""The one map (一张图): layers, CRS, geometry repair, compliance review and the plan's spatial rules."""
