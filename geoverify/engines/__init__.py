"""Engines that verify many patrols: a whole batch, spread over processes or Dask, or member-days one by one."""
