"""The GraphQL types the schema answers with and takes as input (api/schema.py holds the root fields).

They are here, below everything that builds them (api/caches.py makes Product objects, api/explain.py
Explanations), so that those modules need not import the schema that calls them.
"""

from __future__ import annotations

import enum

import strawberry

from api.auth import IsMerchandiser


@strawberry.type(description="A product of the catalog.")
class Product:
    id: strawberry.ID
    title: str | None
    brand: str | None
    price: float | None = strawberry.field(description="null where the catalog has no price")
    categories: list[str] = strawberry.field(description="category ids, the product's path, deepest last")


@strawberry.type(description="A recommended product, its score (higher is better) and why it is here.")
class Recommendation:
    product: Product
    score: float
    reason: str


@strawberry.enum(description="What a shopper did with a product.")
class EventType(enum.Enum):
    VIEW = "VIEW"
    CART = "CART"
    PURCHASE = "PURCHASE"


@strawberry.enum(
    description="Which list a rule applies to: bundle (complement), similar (substitute), or both."
)
class Relation(enum.Enum):
    COMPLEMENT = "complement"
    SUBSTITUTE = "substitute"
    ALL = "all"


@strawberry.input(description="Products to leave out of a list. Blocked products are always left out.")
class RecFilter:
    session_id: strawberry.ID | None = strawberry.field(
        default=None, description="whose cart and purchases to exclude (recommendations: its own session)"
    )
    exclude_cart: bool = True
    exclude_purchased: bool = True
    exclude_categories: list[strawberry.ID] | None = strawberry.field(
        default=None, description="leave out products in any of these categories (or their subcategories)"
    )
    min_price: float | None = strawberry.field(
        default=None, description="with a price bound, products without a price are left out"
    )
    max_price: float | None = None


@strawberry.type(description="One path between two products in the knowledge graph.")
class Path:
    nodes: list[str]
    relations: list[str]
    text: str


@strawberry.type(description="A model's score for the pair: None where the other product is not in the list.")
class ModelScore:
    relation: Relation
    score: float | None
    rank: int | None


@strawberry.type(description="The evidence for recommending `other` with `product`.")
class Explanation:
    product: Product
    other: Product
    shared_customers: int = strawberry.field(description="customers who reviewed, bought or viewed both")
    shared_customer_ids: list[strawberry.ID] | None = strawberry.field(
        description=(
            "up to 10 of those customers' ids: personal data, for a merchandiser key only; any other caller "
            "gets null here and an error naming the role (sharedCustomers, the count, is open)"
        ),
        permission_classes=[IsMerchandiser],
    )
    paths: list[Path]
    model_version: str
    scores: list[ModelScore]
    embedding_similarity: float
    rules: list[str] = strawberry.field(description="merchandiser rules on the pair or on `other`")
