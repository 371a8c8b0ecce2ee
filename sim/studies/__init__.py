"""Planning studies on top of :func:`sim.studies.variants.run_variants` (variants on common random numbers), one
module each: :mod:`~sim.studies.drills` (drill frequency), :mod:`~sim.studies.siting` (siting, then simulation of
the best layouts), :mod:`~sim.studies.files` (study files: variants and grids, resumable); the KPIs they rank by
in :mod:`~sim.studies.objectives`."""
