"""The Redis side of the store seam (DESIGN §13): replicas share one fleet through a Redis server.

- :mod:`.link`: the connection (an asyncio client for the background work, a sync one with short timeouts
  for the synchronous read paths), the key names under one prefix, and the up/down state with backoff;
- :mod:`.stream`: each call's event log as a capped Redis Stream; one Lua script numbers an event (``seq``),
  adds it and publishes it, so seqs stay strictly increasing with no duplicate whichever replica appends;
- :mod:`.fleet`: calls (with their control capabilities: secrets) in hashes, and the index of calls;
- :mod:`.lease`: the lease (``SET NX PX``, renewed, released by compare-and-delete) naming a call's listener;
- :mod:`.channel`: one pub/sub subscription per replica, fanning messages out by topic.

Only this package imports ``redis``; without ``VAPI_MCP_REDIS_URL`` nothing here is used.
"""
