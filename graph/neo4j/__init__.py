"""Neo4j, the graph's system of record where it is configured, and the merchandisers' window on it.

- :mod:`~graph.neo4j.config`: :class:`~graph.neo4j.config.ServerConfig`, where the local server lives and listens;
- :mod:`~graph.neo4j.connection`: how clients reach the graph (the environment, or the local server's password);
- :mod:`~graph.neo4j.server`: the project's own Neo4j Community server, provisioned from Maven Central and run
  without Docker (``kgrec neo4j``), with its log4j2 files as package data;
- :mod:`~graph.neo4j.store`: :class:`~graph.neo4j.store.Neo4jStore`, the :class:`~graph.store.GraphStore` over
  Bolt;
- :mod:`~graph.neo4j.bulk_import`: the first load at catalog scale, through ``neo4j-admin database import``;
- :mod:`graph.neo4j.browser`: the Neo4j Browser guide, saved queries and style for merchandisers.
"""
