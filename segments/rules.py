"""The rule language: a whitelisted subset of Python expressions, compiled to SQL.

Marketers write rules such as `orders_count >= min_orders and country in ["DE", "AT"]`.
The text is parsed with `ast` and only the node types below are accepted (no attribute access,
no subscripts, no arbitrary calls), so a rule can never run code. It compiles to one SQLAlchemy
boolean expression the database evaluates on SQLite and PostgreSQL alike.

Exactness: a comparison of a column with a constant is rewritten onto the stored integer column
(`days_since_last_order > 60` becomes `last_order_at < T - 60 days` in microseconds,
`total_spent >= 99.90` becomes `total_spent_e4 >= 999000`), so inclusive and exclusive edges are
exact. Constant sub-expressions (parameters, shop statistics) are folded in Python with
Fractions. Missing values follow one rule: any comparison with a missing value is false, and
`x is None` asks for it explicitly. What a rule may name, and the errors, live in segments.rule_language.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Float, Table, and_, case, cast, false, func, literal, not_, or_, true

from segmail.segments.rule_language import (
    FEATURES,
    FUNCTIONS,
    MIRRORED,
    PREDICTIVE_FEATURES,
    PY_ARITH,
    PY_COMPARE,
    Kind,
    ParamValue,
    RuleError,
    Stats,
    as_datetime,
    names_in,
    parse,
    unknown_function_message,
    unknown_name_message,
)
from segmail.store import predict_scores
from segmail.store.codec import MONEY_SCALE, US_PER_DAY, to_us

# the rule language's names stay importable from here, where callers have always found them
__all__ = [
    "FEATURES",
    "FUNCTIONS",
    "PREDICTIVE_FEATURES",
    "Compiled",
    "Compiler",
    "Kind",
    "ParamValue",
    "RuleError",
    "Value",
    "names_in",
    "parse",
    "unknown_function_message",
    "unknown_name_message",
]


Const = Fraction | str | bool | datetime | None


@dataclass(frozen=True)
class Value:
    kind: Kind
    sql: ColumnElement[Any] | None = None  # None for constants
    const: Const = None
    column: ColumnElement[Any] | None = None  # integer column behind MONEY/DAYS/TIMESTAMP/NUMBER features
    nullable: bool = True  # False lets comparisons skip the NULL-to-false wrapper (faster scans)

    @property
    def is_const(self) -> bool:
        return self.sql is None


@dataclass
class Compiled:
    condition: ColumnElement[bool]
    clauses: list[tuple[str, ColumnElement[bool]]]
    features: set[str] = field(default_factory=set)


class Compiler:
    """Compiles one rule against a features table for one as-of time and one set of statistics."""

    def __init__(
        self,
        *,
        source: Table,
        as_of_us: int,
        params: Mapping[str, ParamValue],
        stats: Stats | None,
        scores: Table = predict_scores.scores,  # store.schema's cache of the scores
    ) -> None:
        self.source = source
        self.scores = scores  # prediction features' columns; the engine joins it when a rule reads them
        self.as_of_us = as_of_us
        self.params = params
        self.stats = stats
        self.used: set[str] = set()

    # -- entry points -------------------------------------------------------------------------
    def compile(self, text: str) -> Compiled:
        tree = parse(text)
        body = tree.body
        parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
        src = text.strip()
        clauses = [(ast.get_source_segment(src, p) or ast.unparse(p), self.boolean(p)) for p in parts]
        return Compiled(condition=self.boolean(body), clauses=clauses, features=set(self.used))

    def feature_sql(self, name: str) -> ColumnElement[Any]:
        value = self._feature(name, ast.Name(id=name, col_offset=0))
        assert value.sql is not None
        return value.sql

    # -- booleans -----------------------------------------------------------------------------
    def boolean(self, node: ast.expr) -> ColumnElement[bool]:
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v) for v in node.values]
            return and_(*parts) if isinstance(node.op, ast.And) else or_(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not_(self.boolean(node.operand))
        if isinstance(node, ast.Compare):
            pairs = []
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                pairs.append(self._compare(left, op, right))
                left = right
            return and_(*pairs) if len(pairs) > 1 else pairs[0]
        value = self.value(node)
        if value.kind is Kind.BOOL and value.is_const:
            return true() if value.const else false()
        raise RuleError(f"expected a condition (a comparison), got {ast.unparse(node)!r}", _col(node))

    def _compare(self, left_node: ast.expr, op: ast.cmpop, right_node: ast.expr) -> ColumnElement[bool]:
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right_node, ast.Constant) and right_node.value is None):
                raise RuleError("`is` and `is not` only compare with None", _col(right_node))
            value = self.value(left_node)
            if value.is_const:
                return true() if (value.const is None) == isinstance(op, ast.Is) else false()
            assert value.sql is not None
            return value.sql.is_(None) if isinstance(op, ast.Is) else value.sql.is_not(None)
        for node in (left_node, right_node):
            if isinstance(node, ast.Constant) and node.value is None:
                raise RuleError("compare with None using `is None` / `is not None`", _col(node))
        if isinstance(op, ast.In | ast.NotIn):
            cond = self._membership(left_node, right_node)
            return not_(cond) if isinstance(op, ast.NotIn) else cond
        left, right = self.value(left_node), self.value(right_node)
        return self._ordered(left, op, right, right_node)

    def _membership(self, left_node: ast.expr, right_node: ast.expr) -> ColumnElement[bool]:
        left = self.value(left_node)
        items: list[Value] | None = None
        if isinstance(right_node, ast.List | ast.Tuple | ast.Set):
            items = [self.value(e) for e in right_node.elts]
        elif isinstance(right_node, ast.Name) and isinstance(self.params.get(right_node.id), list):
            listed = self.params[right_node.id]
            assert isinstance(listed, list)
            items = [_const(v, right_node) for v in listed]
        if items is not None:
            if not all(i.is_const for i in items):
                raise RuleError("the list after `in` must hold constants", _col(right_node))
            if left.is_const:
                return true() if left.const in [i.const for i in items] else false()
            for item in items:
                _check_comparable(left, item, right_node)
            assert left.sql is not None
            return _null_false(left.sql.in_([self._bind(left, i) for i in items]), left.nullable)
        right = self.value(right_node)
        if right.kind is Kind.CATEGORIES:
            if not (left.is_const and isinstance(left.const, str)):
                raise RuleError('write `"category" in categories` with a quoted category', _col(left_node))
            assert right.sql is not None
            needle = left.const.strip().lower().replace("|", "")
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return right.sql.like(f"%|{escaped}|%", escape="\\")
        raise RuleError('`in` needs a list such as ["DE", "AT"] or `categories`', _col(right_node))

    def _ordered(self, left: Value, op: ast.cmpop, right: Value, node: ast.expr) -> ColumnElement[bool]:
        _check_comparable(left, right, node)
        if left.is_const and right.is_const:
            if left.const is None or right.const is None:
                return false()
            return true() if PY_COMPARE[type(op)](left.const, right.const) else false()
        if left.is_const:  # put the column on the left: `30 < days` is `days > 30`
            left, right, op = right, left, MIRRORED[type(op)]()
        if right.is_const and right.const is None:
            return false()  # e.g. a statistic that is missing for this shop
        if right.is_const and left.column is not None:
            return self._exact(left, op, right)
        assert left.sql is not None
        cond = _SQL_OPS[type(op)](left.sql, self._operand(right, left))
        return _null_false(cond, left.nullable or (right.nullable and not right.is_const))

    def _exact(self, left: Value, op: ast.cmpop, right: Value) -> ColumnElement[bool]:
        """Compare the integer column behind a feature with a constant, exactly."""
        assert left.column is not None
        bound: Fraction
        if left.kind is Kind.TIMESTAMP:
            assert isinstance(right.const, datetime)
            bound = Fraction(to_us(right.const))
        else:
            assert isinstance(right.const, Fraction)
            if left.kind is Kind.MONEY:
                bound = right.const * MONEY_SCALE
            elif left.kind is Kind.DAYS:
                # days = (T - x) / D is decreasing in x: days > c  <=>  x < T - c*D
                bound = Fraction(self.as_of_us) - right.const * US_PER_DAY
                op = MIRRORED[type(op)]()
            else:
                bound = right.const
        return _integer_compare(left.column, op, bound, nullable=left.nullable)

    # -- values -------------------------------------------------------------------------------
    def value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            return _const(node.value, node)
        if isinstance(node, ast.Name):
            if node.id in self.params:
                if isinstance(self.params[node.id], list):
                    raise RuleError(f"parameter {node.id!r} is a list; use it after `in`", _col(node))
                return _const(self.params[node.id], node)
            if node.id in FEATURES:
                return self._feature(node.id, node)
            raise RuleError(unknown_name_message(node.id, list(self.params)), _col(node))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._arith(ast.BinOp(left=ast.Constant(0), op=ast.Sub(), right=node.operand), node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            return self._arith(node, node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise RuleError("a list is only allowed after `in`", _col(node))
        raise RuleError(f"{type(node).__name__} is not allowed in a rule", _col(node))

    def _feature(self, name: str, node: ast.expr) -> Value:
        self.used.add(name)
        spec = FEATURES[name]
        src = self.scores.c if spec.predictive else self.source.c
        if name == "avg_order_value":
            avg = cast(src.total_spent_e4, Float) / src.money_orders_count / MONEY_SCALE
            return Value(Kind.NUMBER, sql=case((src.money_orders_count > 0, avg)))
        column = src[spec.column]
        nullable = bool(column.nullable) or spec.predictive  # an outer join: missing without scores
        if not spec.exact:  # a float column: compared as is, no integer rewrite
            return Value(spec.kind, sql=column, nullable=True)
        if spec.kind is Kind.MONEY:
            return Value(Kind.MONEY, sql=cast(column, Float) / MONEY_SCALE, column=column, nullable=nullable)
        if spec.kind is Kind.DAYS:
            days = (literal(self.as_of_us) - column) / float(US_PER_DAY)
            return Value(Kind.DAYS, sql=days, column=column, nullable=nullable)
        if spec.kind in (Kind.TIMESTAMP, Kind.NUMBER):
            return Value(spec.kind, sql=column, column=column, nullable=nullable)
        return Value(spec.kind, sql=column, nullable=nullable)

    def _arith(self, node: ast.BinOp, where: ast.expr) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        for side, n in ((left, node.left), (right, node.right)):
            if side.kind not in (Kind.NUMBER, Kind.MONEY, Kind.DAYS):
                raise RuleError(f"arithmetic needs numbers, got {side.kind.value}", _col(n))
        if left.is_const and right.is_const:
            if left.const is None or right.const is None:
                return Value(Kind.NUMBER, const=None)
            assert isinstance(left.const, Fraction) and isinstance(right.const, Fraction)
            if isinstance(node.op, ast.Div) and right.const == 0:
                raise RuleError("division by zero", _col(where))
            result = PY_ARITH[type(node.op)](left.const, right.const)
            kind = left.kind if left.kind is right.kind else Kind.NUMBER
            return Value(kind, const=result)
        a, b = self._float(left), self._float(right)
        sql = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op))
        if sql is None:
            sql = a / case((b == 0, None), else_=b)
        return Value(Kind.NUMBER, sql=sql)

    def _call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise RuleError(unknown_function_message(ast.unparse(node.func)), _col(node))
        if node.keywords:
            raise RuleError("functions take positional arguments only", _col(node))
        name = node.func.id
        args = [self.value(a) for a in node.args]
        if name in ("max", "min"):
            return self._extreme(name, args, node)
        if self.stats is None:
            raise RuleError(f"{name}() needs shop statistics, not available here", _col(node))
        if name == "median_repurchase_days":
            _arity(node, args, 0)
            return Value(Kind.NUMBER, const=self.stats.median_repurchase_days())
        _arity(node, args, 1)
        percent = args[0].const
        if not args[0].is_const or not isinstance(percent, Fraction) or not 0 < percent <= 100:
            raise RuleError(
                "top_spenders_threshold(percent) needs a constant percent in (0, 100]", _col(node)
            )
        return Value(Kind.MONEY, const=self.stats.top_spenders_threshold(percent))

    def _extreme(self, name: str, args: list[Value], node: ast.Call) -> Value:
        if not args:
            raise RuleError(f"{name}() needs at least one argument", _col(node))
        for a, n in zip(args, node.args, strict=True):
            if a.kind not in (Kind.NUMBER, Kind.MONEY, Kind.DAYS):
                raise RuleError(f"{name}() takes numbers, got {a.kind.value}", _col(n))
        if all(a.is_const for a in args):
            present = [a.const for a in args if isinstance(a.const, Fraction)]
            pick = max if name == "max" else min
            kinds = {a.kind for a in args}
            kind = kinds.pop() if len(kinds) == 1 else Kind.NUMBER
            return Value(kind, const=pick(present) if present else None)
        result: ColumnElement[Any] = self._float(args[0])
        for a in args[1:]:
            other = self._float(a)
            better = other > result if name == "max" else other < result
            result = case((result.is_(None), other), (other.is_(None), result), (better, other), else_=result)
        return Value(Kind.NUMBER, sql=result)

    # -- helpers ------------------------------------------------------------------------------
    def _float(self, value: Value) -> ColumnElement[Any]:
        if value.is_const:
            return literal(None if value.const is None else float(value.const), Float)  # type: ignore[arg-type]
        assert value.sql is not None
        return cast(value.sql, Float) if value.kind is Kind.NUMBER else value.sql

    def _operand(self, value: Value, other: Value) -> Any:
        if value.is_const:
            return self._bind(other, value)
        return value.sql

    def _bind(self, column: Value, value: Value) -> Any:
        if isinstance(value.const, Fraction):
            return float(value.const)
        if isinstance(value.const, datetime):
            return to_us(value.const)
        return value.const


def _null_false(cond: ColumnElement[bool], nullable: bool = True) -> ColumnElement[bool]:
    return func.coalesce(cond, false()) if nullable else cond


def _integer_compare(
    column: ColumnElement[Any], op: ast.cmpop, bound: Fraction, *, nullable: bool
) -> ColumnElement[bool]:
    floor, ceil = math.floor(bound), math.ceil(bound)
    if isinstance(op, ast.Eq):
        cond = column == floor if floor == ceil else None
    elif isinstance(op, ast.NotEq):
        cond = column != floor if floor == ceil else column.is_not(None)
    elif isinstance(op, ast.GtE):
        cond = column >= ceil
    elif isinstance(op, ast.Gt):
        cond = column > floor
    elif isinstance(op, ast.LtE):
        cond = column <= floor
    else:
        cond = column < ceil
    return false() if cond is None else _null_false(cond, nullable)


def _check_comparable(left: Value, right: Value, node: ast.expr) -> None:
    numeric = {Kind.NUMBER, Kind.MONEY, Kind.DAYS}
    if (left.is_const and left.const is None) or (right.is_const and right.const is None):
        return
    if (left.kind in numeric and right.kind in numeric) or left.kind is right.kind:
        return
    if {left.kind, right.kind} == {Kind.TIMESTAMP, Kind.STRING} and (left.is_const or right.is_const):
        raise RuleError('compare dates with a date-time such as "2026-01-01T00:00:00Z"', _col(node))
    raise RuleError(f"cannot compare {left.kind.value} with {right.kind.value}", _col(node))


def _const(raw: Any, node: ast.expr) -> Value:
    if raw is None:
        return Value(Kind.NUMBER, const=None)
    if isinstance(raw, bool):
        return Value(Kind.BOOL, const=raw)
    if isinstance(raw, int | float):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise RuleError("numbers must be finite", _col(node))
        return Value(Kind.NUMBER, const=Fraction(str(raw)) if isinstance(raw, float) else Fraction(raw))
    if isinstance(raw, str):
        stamp = as_datetime(raw)
        return Value(Kind.TIMESTAMP, const=stamp) if stamp is not None else Value(Kind.STRING, const=raw)
    raise RuleError(f"constant {raw!r} is not a number, string or boolean", _col(node))


def _arity(node: ast.Call, args: list[Value], n: int) -> None:
    if len(args) != n:
        assert isinstance(node.func, ast.Name)
        raise RuleError(f"{node.func.id}() takes {n} argument(s), got {len(args)}", _col(node))


def _col(node: ast.AST) -> int:
    return int(getattr(node, "col_offset", 0)) + 1


_SQL_OPS: dict[type, Callable[[Any, Any], ColumnElement[bool]]] = dict(PY_COMPARE)  # type: ignore[arg-type]
