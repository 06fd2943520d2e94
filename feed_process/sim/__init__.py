"""The embedded market simulator / replay server (``live-monitor sim``).

Modules: ``market`` (synthetic tape), ``bars`` (AM from trades), ``replay``
(files, pre-encoded), ``protocol`` (relay + Polygon sessions, sans-I/O),
``history`` (REST history parsing/shaping), ``faults`` (fault injection),
``server`` (aiohttp adapter, ``SimServer``, ``run_sim``).
"""
