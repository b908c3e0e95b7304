"""The GraphSAGE link model of complements and substitutes: an encoder, two decoders, a structural term.

Each class follows PyG's ``nn/conv`` layout (the paper, the math, the arguments with defaults and the shapes;
``reset_parameters``, ``forward``, ``__repr__``). :class:`LinkModel` puts them together; :mod:`gnn.train` trains it.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

EdgeType = tuple[str, str, str]


class HeteroSAGE(nn.Module):
    r"""GraphSAGE (Hamilton et al., "Inductive Representation Learning on Large Graphs", NeurIPS 2017) over the
    heterogeneous product graph, one :class:`~torch_geometric.nn.conv.SAGEConv` per edge type summed per target
    type (R-GCN style, Schlichtkrull et al., ESWC 2018), with the input features added back at the output:

    .. math::
        \mathbf{h}_v^{(0)} &= \mathbf{W}_t \mathbf{x}^{text}_v + \mathbf{e}_{c(v)} + \mathbf{W}_p \mathbf{x}^{pop}_v

        \mathbf{h}_v^{(l+1)} &= \sigma\Big(\sum_{r} \mathbf{W}^{(l)}_{r,1} \mathbf{h}_v^{(l)} +
            \mathbf{W}^{(l)}_{r,2} \operatorname{mean}_{u \in \mathcal{N}_r(v)} \mathbf{h}_u^{(l)}\Big)

        \mathbf{z}_v &= \operatorname{LayerNorm}\big(\mathbf{h}_v^{(L)} + \mathbf{h}_v^{(0)}\big)

    Products start from title features, a category embedding :math:`\mathbf{e}` and log-degree popularity;
    categories from the same category embedding; customers and brands, which have no features that would carry
    over to a customer or brand never seen, from one learned vector per type, so every node's input exists on
    arrival and the encoder is inductive. The skip keeps a product with no edges (a new one) at its content; the
    layer norm keeps the decoders' logits at one scale whatever a node's degree.

    Args:
        edge_types (list[tuple[str, str, str]]): the edge types to pass messages along (:func:`gnn.data.metadata`).
        text_dim (int): title feature size.
        pop_dim (int): popularity feature size.
        n_categories (int): category vocabulary size; index ``n_categories`` is "unknown".
        hidden (int, optional): embedding size. (default: :obj:`64`)
        layers (int, optional): message-passing rounds. (default: :obj:`2`)
        dropout (float, optional): dropout between rounds. (default: :obj:`0.1`)

    Shapes:
        - **input:** ``x_text`` :math:`(|P|, text\_dim)`, ``cat`` :math:`(|P|)`, ``pop`` :math:`(|P|, pop\_dim)`,
          ``num_nodes`` per node type, ``category_cat`` :math:`(|C|)`, ``edge_index_dict`` of :math:`(2, |E_r|)`
        - **output:** product embeddings :math:`(|P|, hidden)`
    """

    def __init__(
        self,
        edge_types: list[EdgeType],
        text_dim: int,
        pop_dim: int,
        n_categories: int,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.edge_types = list(edge_types)
        self.hidden = hidden
        self.dropout = dropout
        self.text = nn.Linear(text_dim, hidden)
        self.pop = nn.Linear(pop_dim, hidden, bias=False)
        self.category = nn.Embedding(n_categories + 1, hidden)
        self.featureless = nn.ParameterDict(
            {t: nn.Parameter(torch.empty(hidden)) for t in ("customer", "brand")}
        )
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv(hidden, hidden, aggr="mean") for et in self.edge_types}, aggr="sum")
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.text.reset_parameters()
        self.pop.reset_parameters()
        nn.init.normal_(self.category.weight, std=0.1)
        for p in self.featureless.values():
            nn.init.normal_(p, std=0.1)
        for conv in self.convs:
            cast(HeteroConv, conv).reset_parameters()

    def forward(
        self,
        x_text: Tensor,
        cat: Tensor,
        pop: Tensor,
        num_nodes: dict[str, int],
        category_cat: Tensor,
        edge_index_dict: dict[EdgeType, Tensor],
    ) -> Tensor:
        h0 = self.text(x_text) + self.category(cat) + self.pop(pop)
        h: dict[str, Tensor] = {"product": h0, "category": self.category(category_cat)}
        for t, vec in self.featureless.items():
            if num_nodes.get(t, 0):
                h[t] = vec.expand(num_nodes[t], -1)
        edges = {et: e for et, e in edge_index_dict.items() if et in self.edge_types and e.numel()}
        for i, conv in enumerate(self.convs):
            out = conv(h, edges)
            # a node type that received no message this round keeps its state (HeteroConv drops it)
            out = {t: out.get(t, h[t]) for t in h}
            if i < len(self.convs) - 1:
                out = {t: F.dropout(F.relu(v), self.dropout, self.training) for t, v in out.items()}
            h = out
        return self.norm(h["product"] + h0)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(hidden={self.hidden}, layers={len(self.convs)}, "
            f"edge_types={len(self.edge_types)})"
        )


class ComplementDecoder(nn.Module):
    r"""The directional complement score, with separate source and target projections as in P-Companion
    (Hao et al., "P-Companion: A Principled Framework for Diversified Complementary Product Recommendation",
    CIKM 2020) and BLADE (Zhang et al., "Complementary Product Recommendation with Directional and Asymmetric
    Embeddings", 2024): what a product needs and what it completes are different roles.

    .. math::
        s(a \rightarrow b) = (\mathbf{S} \mathbf{z}_a)^\top (\mathbf{T} \mathbf{z}_b) / \sqrt{d} + \mathbf{w}^\top \mathbf{z}_b

    so :math:`s(a \rightarrow b) \neq s(b \rightarrow a)` in general; the target term ranks what is commonly
    bought as an add-on.

    Args:
        hidden (int): embedding size.
        out (int, optional): projection size. (default: :obj:`64`)

    Shapes:
        - **input:** ``z_a`` :math:`(m, hidden)`, ``z_b`` :math:`(m, hidden)` (``pairs=True``) or
          :math:`(n, hidden)` (``pairs=False``)
        - **output:** :math:`(m)` for pairs, :math:`(m, n)` for every ``a`` against every ``b``
    """

    def __init__(self, hidden: int, out: int = 64) -> None:
        super().__init__()
        self.source = nn.Linear(hidden, out, bias=False)
        self.target = nn.Linear(hidden, out, bias=False)
        self.bias = nn.Linear(hidden, 1)
        self.scale = out**-0.5
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.source.reset_parameters()
        self.target.reset_parameters()
        self.bias.reset_parameters()

    def forward(self, z_a: Tensor, z_b: Tensor, pairs: bool = True) -> Tensor:
        s, t, bias = self.source(z_a) * self.scale, self.target(z_b), self.bias(z_b).squeeze(-1)
        if pairs:
            return (s * t).sum(-1) + bias
        return s @ t.T + bias[None, :]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.source.in_features}, {self.source.out_features})"


class SubstituteDecoder(nn.Module):
    r"""The symmetric substitute score: one projection for both ends (McAuley et al., "Inferring Networks of
    Substitutable and Complementary Products", KDD 2015, model substitutes as a symmetric relation):

    .. math::
        s(a, b) = (\mathbf{P} \mathbf{z}_a)^\top (\mathbf{P} \mathbf{z}_b) / \sqrt{d} = s(b, a)

    Args:
        hidden (int): embedding size.
        out (int, optional): projection size. (default: :obj:`64`)

    Shapes:
        - **input:** ``z_a`` :math:`(m, hidden)`, ``z_b`` :math:`(m, hidden)` (``pairs=True``) or
          :math:`(n, hidden)` (``pairs=False``)
        - **output:** :math:`(m)` for pairs, :math:`(m, n)` for every ``a`` against every ``b``
    """

    def __init__(self, hidden: int, out: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, out, bias=False)
        self.scale = out**-0.5
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()

    def forward(self, z_a: Tensor, z_b: Tensor, pairs: bool = True) -> Tensor:
        p, q = self.proj(z_a) * self.scale, self.proj(z_b)
        return (p * q).sum(-1) if pairs else p @ q.T

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.proj.in_features}, {self.proj.out_features})"


class PairTerm(nn.Module):
    r"""The learned structural term: a small MLP over pair features (path counts, title cosine, same category,
    popularity; :class:`gnn.pair_features.PairFeatures`), added to a decoder's score, after NCN (Wang et al., "Neural
    Common Neighbor with Completion for Link Prediction", ICLR 2024) and BUDDY (Chamberlain et al., "Graph Neural
    Networks for Link Prediction with Subgraph Sketching", ICLR 2023): message passing smooths embeddings and so
    cannot count the common neighbours that the strong heuristics are made of.

    .. math::
        t(a, b) = \mathbf{w}_2^\top \sigma(\mathbf{W}_1 \mathbf{f}(a, b) + \mathbf{b}_1)

    Symmetric features give a symmetric term (the substitute's); directional ones a directional term.

    Args:
        features (int): pair feature count.
        hidden (int, optional): hidden units. (default: :obj:`16`)

    Shapes:
        - **input:** :math:`(*, features)`
        - **output:** :math:`(*)`
    """

    def __init__(self, features: int, hidden: int = 16) -> None:
        super().__init__()
        self.lin1 = nn.Linear(features, hidden)
        self.lin2 = nn.Linear(hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, f: Tensor) -> Tensor:
        # in place: scoring a query block against the catalog makes this the largest tensor of all
        return self.lin2(self.lin1(f).relu_()).squeeze(-1)

    def feature_major(self, f: Tensor, rows: int = 16) -> Tensor:
        """The same term of features laid out ``(features, q, *)`` (:meth:`PairFeatures.all_targets` with
        ``feature_major``), output ``(q, *)``: `rows` of q at a time, so the hidden units stay a few MB."""
        w1, b1 = self.lin1.weight, self.lin1.bias
        w2, b2 = self.lin2.weight, self.lin2.bias
        out = f.new_empty(f.shape[1:])
        for lo in range(0, f.shape[1], rows):
            x = f[:, lo : lo + rows].reshape(f.shape[0], -1)
            h = torch.addmm(b1[:, None], w1, x).relu_()
            out[lo : lo + rows] = torch.addmm(b2[:, None], w2, h).view(out[lo : lo + rows].shape)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.lin1.in_features}, hidden={self.lin1.out_features})"


class LinkModel(nn.Module):
    r"""Encoder, one decoder and one structural term per relation:

    .. math::
        \text{score}_r(a, b) = \text{dec}_r(\mathbf{z}_a, \mathbf{z}_b) + t_r(a, b)

    Args:
        encoder (HeteroSAGE): the product encoder.
        complement_features (int): pair feature count of complements.
        substitute_features (int): pair feature count of substitutes.
        out (int, optional): decoder projection size. (default: :obj:`64`)
        pair_hidden (int, optional): hidden units of the structural terms. (default: :obj:`16`)

    Shapes:
        - **input:** ``z_a``, ``z_b`` :math:`(m, hidden)`, ``f`` :math:`(m, F_r)` (pairs) or ``z_a``
          :math:`(q, hidden)`, ``z_b`` :math:`(n, hidden)`, ``f`` :math:`(q, n, F_r)` (all pairs)
        - **output:** :math:`(m)` or :math:`(q, n)`
    """

    def __init__(
        self,
        encoder: HeteroSAGE,
        complement_features: int,
        substitute_features: int,
        out: int = 64,
        pair_hidden: int = 16,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoders = nn.ModuleDict(
            {
                "complement": ComplementDecoder(encoder.hidden, out),
                "substitute": SubstituteDecoder(encoder.hidden, out),
            }
        )
        self.pair_terms = nn.ModuleDict(
            {
                "complement": PairTerm(complement_features, pair_hidden),
                "substitute": PairTerm(substitute_features, pair_hidden),
            }
        )

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for m in (*self.decoders.values(), *self.pair_terms.values()):
            cast(ComplementDecoder | SubstituteDecoder | PairTerm, m).reset_parameters()

    def forward(
        self,
        relation: str,
        z_a: Tensor,
        z_b: Tensor,
        f: Tensor,
        pairs: bool = True,
        feature_major: bool = False,
    ) -> Tensor:
        """`feature_major`: `f` laid out ``(features, m, n)`` (``pairs=False`` only; see
        :meth:`PairTerm.feature_major`)."""
        term = self.pair_terms[relation]
        assert isinstance(term, PairTerm)
        t = term.feature_major(f) if feature_major else term(f)
        return self.decoders[relation](z_a, z_b, pairs=pairs) + t

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.encoder}, {dict(self.decoders)}, {dict(self.pair_terms)})"
