// kgrec's saved queries for merchandisers in Neo4j Browser (the guide shows each one, ready to run).
// Set the parameters first, e.g.  :params {asin: "B00004TMFE", other: "B0009RF9DW", relation: "complement"}
// A block is "// name: NAME", one comment line saying what it answers, then the statement, ending in ";".
// Learned edges carry score, rank, evidence and the model version that wrote them; a new model replaces a product's
// edges in one transaction, so a product has one model's edges at any time.

// name: bundle
// The bundle for this product: its learned complements, best first (click an arrow for score, model, evidence).
MATCH (p:Product {asin: $asin})-[c:COMPLEMENT]->(q:Product)
RETURN p, c, q
ORDER BY c.rank
LIMIT 10;

// name: substitutes
// Substitutes of this product: what could be bought instead, best first.
MATCH (p:Product {asin: $asin})-[s:SUBSTITUTE]->(q:Product)
RETURN p, s, q
ORDER BY s.rank
LIMIT 10;

// name: why
// Why is $other a complement of $asin: the model's evidence and the shortest paths of observed edges between them.
MATCH (x:Product {asin: $asin}), (y:Product {asin: $other})
OPTIONAL MATCH (x)-[c:COMPLEMENT]->(y)
WITH x, y, collect(c {.model, .rank, .score, .evidence}) AS learned
MATCH path = allShortestPaths(
  (x)-[:ALSO_BOUGHT|BOUGHT_TOGETHER|ALSO_VIEWED|REVIEWED|PURCHASED|VIEWED|IN_CATEGORY|MADE_BY*..4]-(y)
)
RETURN path, learned
LIMIT 25;

// name: no-complements
// Products with no complements yet, those with the longest also-bought lists first (the model missed them).
MATCH (p:Product)
WHERE NOT EXISTS { (p)-[:COMPLEMENT]->() }
RETURN p.asin AS asin, p.title AS title, p.brand AS brand, COUNT { (p)-[:ALSO_BOUGHT]->() } AS also_bought
ORDER BY also_bought DESC, asin
LIMIT 100;

// name: rules
// Rules in force: every pin and block, on a pair or (other empty) on the product alone.
MATCH (a:Product)-[r:PINNED|BLOCKED]->(b:Product)
RETURN type(r) AS rule, a.asin AS product, a.title AS title,
       CASE WHEN a = b THEN null ELSE b.asin END AS other,
       CASE WHEN a = b THEN null ELSE b.title END AS other_title,
       coalesce(r.relation, "all") AS relation
ORDER BY product, rule, other;

// name: pin
// Pin $other first in $asin's list of $relation (complement, substitute or all); the API shows it within seconds.
MATCH (a:Product {asin: $asin}), (b:Product {asin: $other})
MERGE (a)-[r:PINNED {relation: $relation}]->(b)
RETURN a, r, b;

// name: block
// Keep $other out of $asin's list of $relation.
MATCH (a:Product {asin: $asin}), (b:Product {asin: $other})
MERGE (a)-[r:BLOCKED {relation: $relation}]->(b)
RETURN a, r, b;

// name: block-product
// Keep $asin out of every list of $relation (a rule on the product alone is a loop on itself).
MATCH (a:Product {asin: $asin})
MERGE (a)-[r:BLOCKED {relation: $relation}]->(a)
RETURN a, r;

// name: remove-rule
// Remove the pin or block of $relation from $asin to $other (for a rule on the product alone, set other = asin).
MATCH (:Product {asin: $asin})-[r:PINNED|BLOCKED {relation: $relation}]->(:Product {asin: $other})
DELETE r
RETURN count(r) AS removed;
