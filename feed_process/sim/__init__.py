"""The embedded market simulator / replay server (``live-monitor sim``).

Sans-I/O: ``market`` (synthetic tape) with ``reference`` (price/volume levels),
``bars`` (AM from trades, the shared market core's), ``seconds`` (A bars),
``replay`` (files, pre-encoded), ``tapes`` (what is due when), ``clock`` (wall
or virtual session), ``sessions`` + ``polygon`` + ``relay`` (the two protocols:
replies and data framing), ``rest`` (history parsing/shaping), ``inject``
(scripted events: LULD, ...), ``faults`` (fault rules), ``config``.
I/O: ``server`` (aiohttp WebSocket adapter, ``SimServer``), ``endpoints``
(HTTP handlers), ``main`` (the process: ``run_sim``).
"""
