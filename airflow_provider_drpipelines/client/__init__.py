"""Everything that talks HTTP to the pipelines API: the endpoint catalogue, the wire rules (errors, retry,
paging, scrubbing), the size limits of what is sent and read, the facts read off its answers, the pace of
status polls and the worker's wait loop, the sync transport and the async client.

Nothing here imports task logic: the hook, the operators and the triggers build on it, never the reverse.
"""
