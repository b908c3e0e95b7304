"""Neo4j Browser for merchandisers: a guide, saved queries and a style, served beside the graph.

``queries.cypher`` holds the saved queries (parameterized: ``$asin``, ``$other``, ``$relation``),
``guide.html`` the guide that walks through them (its query blocks are filled from ``queries.cypher``), and
``style.grass`` the graph style. :mod:`graph.neo4j.browser.guide` renders and serves them (``kgrec neo4j guide``).
"""
