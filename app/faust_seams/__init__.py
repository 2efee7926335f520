"""Every place the platform overrides or reads Faust's internals, written against one release.

- ``drain``: the consumer's drain, commit and partition checks (``LeanApp``, ``LeanConsumer``);
- ``take``: batches that start when nothing more is queued (``LeanStream.take_events``);
- ``recovery``: table recovery that restores changelogs in bulk first (``BulkTableManager``);
- ``committed_end``: the end of a transactional changelog's committed records;
- ``delivery``: the sensor that stops commits after a failed send;
- outside this package, ``app.faust_seams.store`` (the store class, registered by URL) and
  ``tables.state.event_context`` (the current event of Faust's streams).

Another release must be read against all of them before it is installed:
``tests/unit/test_faust_seams.py`` fails until ``FAUST_VERSION`` says it was.
"""

#: The faust-streaming release these seams were written against.
FAUST_VERSION = "0.15.3"
