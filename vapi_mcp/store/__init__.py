"""Where state lives: the seam (:mod:`.base`: ``CallStore``, ``Journal``) and its embedded default, the local
data dir (:mod:`.local`: ``LocalStore``; :mod:`.journal`: ``JsonlJournal``; :mod:`.files`: private files).
A Redis-backed store implements the same seam next (DESIGN §13). The lowest domain layer: nothing here
imports ``listen``, ``supervisor``, ``face`` or ``vapi``."""
