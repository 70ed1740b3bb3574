"""Shopify's calculated query cost: what a GraphQL document costs by the documented rule (no I/O).

Shopify prices a query from its shape before running it and refuses one whose *requested* cost is
over 1,000 points (`MAX_COST_EXCEEDED`), so the cost is a property of the document. The client sizes
its pages with this module and the sandbox answers with it: one implementation, pinned by tests to
costs worked out by hand from the documents, so a mistake fails those tests instead of hiding in
two copies that agree with each other.

The documented rule, https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits ("Cost
calculation"; the same table on https://shopify.dev/docs/api/usage/rate-limits):
    Scalar 0 · Enum 0 · Object 1 · Interface and Union: "Maximum of possible selections" ·
    Connection: "Sized by `first` and `last` arguments" · Mutation 10.
    "A single query may not exceed a cost of 1,000 points, regardless of plan limits. This limit
    is enforced before a query is executed based on the query's requested cost."
    "The actual cost is based on the query results, and may be lower than requested cost due to the
    actual objects returned or connections that return fewer edges than requested."
A connection costs "two points plus the number of objects" it returns (Shopify Engineering, "Rate
Limiting GraphQL APIs by Calculating Query Complexity",
https://shopify.engineering/rate-limiting-graphql-apis-calculating-query-complexity): 2 + `first`
* the cost of one node, so a connection inside a node multiplies.

Where the documents are silent, this module chooses (the client does not depend on these: it adapts
to the cost Shopify reports, see connector/shopify.py):
- the connection's wrappers (`edges`, `node`, `nodes`, `cursor`, `pageInfo`) are inside its two
  points; one node is an object, 1 + its selected fields, even when none are selected, and a node
  selected both as `nodes` and as `edges { node }` is one node with the union of both selections;
- `first` and `last` together: the larger; neither: 0 (Shopify refuses such a connection outside a
  bulk query, and so does the sandbox);
- an interface or union field: the most expensive of its possible object types, each 1 + the
  selections that apply to it;
- a mutation's root field costs 10 in place of the object's 1; its payload's fields are added;
- a list of objects that is not a connection (`userErrors`, `Order.transactions`) is priced as one
  object, its length being unknown before it runs; in the actual cost, as its costliest element;
- fields under `@skip` / `@include` are priced (the static price of the document); fields with the
  same response key are merged as GraphQL merges them; introspection fields (`__typename`) are free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    parse,
    value_from_ast,
    value_from_ast_untyped,
)

__all__ = ["MAX_QUERY_COST", "RATE_LIMITS_URL", "actual_cost", "requested_cost"]

MAX_QUERY_COST: Final = 1000
RATE_LIMITS_URL: Final = "https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits"
_MUTATION_COST: Final = 10
_STATIC: Final[Any] = object()  # "price the document": there is no result to look at


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode | str,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    field_costs: Mapping[str, int] | None = None,
) -> int:
    """The requested cost: what Shopify reserves before running the operation (ValueError if unknown).

    `field_costs` ("Type.field": points) replaces a field's own default cost: "Shopify also reserves
    the right to set manual costs on fields" (the rate-limits page); the sandbox uses it to play that.
    """
    return _Pricer(schema, document, variables, operation_name, field_costs).total(_STATIC)


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode | str,
    data: Mapping[str, Any] | None,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    field_costs: Mapping[str, int] | None = None,
) -> int:
    """The actual cost: the same rule over what `data` holds (a null object is free, a short page cheaper)."""
    return _Pricer(schema, document, variables, operation_name, field_costs).total(data)


class _Pricer:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode | str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        field_costs: Mapping[str, int] | None,
    ) -> None:
        doc = parse(document) if isinstance(document, str) else document
        self.schema = schema
        self.field_costs = field_costs or {}
        self.fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        self.operation = _operation(doc, operation_name)
        self.variables = _variables(self.operation, variables or {})

    def total(self, data: Any) -> int:
        kind = self.operation.operation
        mutation = kind == OperationType.MUTATION
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[kind]
        if root is None:
            raise ValueError(f"the schema has no {kind.value} type")
        groups = self._collect(root, [self.operation.selection_set])
        return sum(
            self._field(root, group, _child(data, key), mutation=mutation) for key, group in groups.items()
        )

    def _field(
        self, parent: GraphQLObjectType, group: list[FieldNode], value: Any, *, mutation: bool = False
    ) -> int:
        name = group[0].name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            raise ValueError(f"{parent.name}.{name} is not in the schema")
        named = get_named_type(definition.type)
        defined = self.field_costs.get(f"{parent.name}.{name}")
        if value is None:  # actual cost: nothing came back
            return 0
        if is_leaf_type(named):
            return defined if defined is not None else _MUTATION_COST if mutation else 0
        sets = [f.selection_set for f in group if f.selection_set is not None]
        if isinstance(named, GraphQLObjectType) and {"edges", "pageInfo"} <= set(named.fields):
            return (2 if defined is None else defined) + self._connection(named, group, sets, value)
        own = defined if defined is not None else _MUTATION_COST if mutation else 1
        if isinstance(value, list):
            objects = max((self._object(named, sets, item) for item in value if item is not None), default=0)
        else:
            objects = self._object(named, sets, value)  # 1 + its fields, or its costliest possible type
        return own - 1 + objects

    def _object(self, type_: Any, sets: list[SelectionSetNode], value: Any) -> int:
        if is_abstract_type(type_):
            possible = self.schema.get_possible_types(type_)
            return max((self._object(t, sets, value) for t in possible), default=1)
        groups = self._collect(type_, sets)
        return 1 + sum(self._field(type_, group, _child(value, key)) for key, group in groups.items())

    def _connection(self, conn: GraphQLObjectType, group: list[FieldNode], sets: list[SelectionSetNode],
                    value: Any) -> int:  # fmt: skip
        node_type = get_named_type(conn.fields["nodes"].type) if "nodes" in conn.fields else None
        node_sets: list[SelectionSetNode] = []
        lists: list[list[Any]] = []
        for key, inner in self._collect(conn, sets).items():
            name = inner[0].name.value
            inner_sets = [f.selection_set for f in inner if f.selection_set is not None]
            if name == "nodes":
                node_sets += inner_sets
                lists.append(_items(_child(value, key)))
            elif name == "edges":
                edge = get_named_type(conn.fields["edges"].type)
                assert isinstance(edge, GraphQLObjectType)
                node_type = get_named_type(edge.fields["node"].type)
                for edge_key, edge_group in self._collect(edge, inner_sets).items():
                    if edge_group[0].name.value == "node":
                        node_sets += [f.selection_set for f in edge_group if f.selection_set is not None]
                        lists.append([_child(e, edge_key) for e in _items(_child(value, key))])
        if node_type is None:
            edge = get_named_type(conn.fields["edges"].type)
            assert isinstance(edge, GraphQLObjectType)
            node_type = get_named_type(edge.fields["node"].type)
        if value is _STATIC:
            return self._page_size(group) * self._object(node_type, node_sets, _STATIC)
        returned = max((len(items) for items in lists), default=0)
        merged = [_merge(items[i] for items in lists if i < len(items)) for i in range(returned)]
        return sum(self._object(node_type, node_sets, node) for node in merged if node is not None)

    def _page_size(self, group: list[FieldNode]) -> int:
        size = 0
        for node in group:
            for arg in node.arguments or ():
                if arg.name.value in ("first", "last"):
                    value = value_from_ast(arg.value, GraphQLInt, self.variables)
                    if isinstance(value, int):
                        size = max(size, value)
        return size

    def _collect(self, parent: GraphQLObjectType, sets: Sequence[SelectionSetNode],
                 out: dict[str, list[FieldNode]] | None = None, path: tuple[str, ...] = ()) -> dict[str, list[FieldNode]]:  # fmt: skip
        """Fields by response key, fragments that apply to `parent` spread in (GraphQL's field collection)."""
        out = {} if out is None else out
        for selection_set in sets:
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    if self._applies(sel.type_condition, parent):
                        self._collect(parent, [sel.selection_set], out, path)
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in path:
                        raise ValueError(f"fragment {name} is unknown or spreads itself")
                    if self._applies(fragment.type_condition, parent):
                        self._collect(parent, [fragment.selection_set], out, (*path, name))
        return out

    def _applies(self, condition: NamedTypeNode | None, parent: GraphQLObjectType) -> bool:
        if condition is None or condition.name.value == parent.name:
            return True
        target = self.schema.get_type(condition.name.value)
        return is_abstract_type(target) and self.schema.is_sub_type(target, parent)


def _operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [op for op in ops if name is None or (op.name is not None and op.name.value == name)]
    if len(chosen) != 1:
        raise ValueError(
            f"no single operation named {name!r} in the document" if name else "not one operation"
        )
    return chosen[0]


def _variables(op: OperationDefinitionNode, given: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(given)
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _child(value: Any, key: str) -> Any:
    if value is _STATIC:
        return _STATIC
    return value.get(key) if isinstance(value, Mapping) else None


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _merge(parts: Any) -> dict[str, Any] | None:
    merged: dict[str, Any] = {}
    for part in parts:
        if isinstance(part, Mapping):
            merged.update(part)
    return merged or None
