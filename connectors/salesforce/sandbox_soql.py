"""The SOQL subset the Salesforce sandbox understands -- enough to prove escaping works.

``SELECT f, ... FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]] [LIMIT n]`` where ``cond`` is
comparisons ``f = lit``, ``f != lit``, ``f IN (lit, ...)`` joined by ``AND`` / ``OR`` (AND
binds tighter) with optional parentheses.  String literals are single-quoted with the escape
sequences of the SOQL reference (``\\n \\r \\t \\b \\f \\" \\' \\\\``); anything else -- an
unknown escape, an unterminated string, a stray token -- is ``MALFORMED_QUERY``, like the real
parser.  A quote inside a properly escaped literal therefore never ends the literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "IN", "ORDER", "BY", "ASC", "DESC", "LIMIT"}
NULL = object()


class SoqlError(ValueError):
    """``MALFORMED_QUERY`` (syntax) or ``INVALID_FIELD`` (unknown column)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | number | op | punct | end
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "'":
            start, i, out = i, i + 1, []
            while True:
                if i >= len(text):
                    raise SoqlError("MALFORMED_QUERY", f"unterminated string literal at {start}")
                c = text[i]
                if c == "\\":
                    if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                        raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence at {i}")
                    out.append(_ESCAPES[text[i + 1]])
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    out.append(c)
                    i += 1
            tokens.append(Token("string", "".join(out), start))
        elif text.startswith("!=", i):
            tokens.append(Token("op", "!=", i))
            i += 2
        elif char == "=":
            tokens.append(Token("op", "=", i))
            i += 1
        elif char in "(),":
            tokens.append(Token("punct", char, i))
            i += 1
        elif (m := _NUMBER.match(text, i)) is not None:
            tokens.append(Token("number", float(m.group()), i))
            i = m.end()
        elif (m := _WORD.match(text, i)) is not None:
            tokens.append(Token("word", m.group(), i))
            i = m.end()
        else:
            raise SoqlError("MALFORMED_QUERY", f"unexpected character {char!r} at {i}")
    tokens.append(Token("end", None, len(text)))
    return tokens


Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Predicate | None
    order_by: tuple[str, bool] | None  # (field, descending)
    limit: int | None

    def run(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [r for r in rows if self.where is None or self.where(r)]
        if self.order_by is not None:
            name, descending = self.order_by
            out.sort(key=lambda r: str(r.get(name) or ""), reverse=descending)
        if self.limit is not None:
            out = out[: self.limit]
        return [{f: r.get(f) for f in self.fields} for r in out]


class _Parser:
    def __init__(self, text: str, known_fields: Callable[[str], set[str] | None]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.known_fields = known_fields
        self.sobject = ""

    def peek(self) -> Token:
        return self.tokens[self.i]

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and str(token.value).upper() == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError("MALFORMED_QUERY", f"expected {word} at {self.peek().position}")

    def expect_punct(self, char: str) -> None:
        token = self.peek()
        if token.kind != "punct" or token.value != char:
            raise SoqlError("MALFORMED_QUERY", f"expected '{char}' at {token.position}")
        self.i += 1

    def field_name(self) -> str:
        token = self.peek()
        if token.kind != "word" or str(token.value).upper() in KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"expected a field name at {token.position}")
        self.i += 1
        return str(token.value)

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields = [self.field_name()]
        while self.peek().kind == "punct" and self.peek().value == ",":
            self.i += 1
            fields.append(self.field_name())
        self.expect_keyword("FROM")
        self.sobject = self.field_name()
        known = self.known_fields(self.sobject)
        if known is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{self.sobject}' is not supported")
        self.known = known
        for name in fields:
            self.check_field(name)
        where = self.condition() if self.keyword("WHERE") else None
        order = None
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            name = self.check_field(self.field_name())
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
            order = (name, descending)
        limit = None
        if self.keyword("LIMIT"):
            token = self.peek()
            if token.kind != "number" or token.value != int(token.value) or token.value < 0:
                raise SoqlError(
                    "MALFORMED_QUERY", f"LIMIT needs a whole number at {token.position}"
                )
            limit = int(token.value)
            self.i += 1
        if self.peek().kind != "end":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at {self.peek().position}")
        return Query(fields, self.sobject, where, order, limit)

    def check_field(self, name: str) -> str:
        if name not in self.known:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{self.sobject}'")
        return name

    def condition(self) -> Predicate:
        left = self.conjunction()
        while self.keyword("OR"):
            right = self.conjunction()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.comparison()
        while self.keyword("AND"):
            right = self.comparison()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def comparison(self) -> Predicate:
        token = self.peek()
        if token.kind == "punct" and token.value == "(":
            self.i += 1
            inner = self.condition()
            self.expect_punct(")")
            return inner
        name = self.check_field(self.field_name())
        op = self.peek()
        if op.kind == "op":
            self.i += 1
            value = self.literal()
            if op.value == "=":
                return lambda r: _same(r.get(name), value)
            return lambda r: not _same(r.get(name), value)
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.i += 1
                values.append(self.literal())
            self.expect_punct(")")
            return lambda r: any(_same(r.get(name), v) for v in values)
        raise SoqlError("MALFORMED_QUERY", f"expected =, != or IN at {op.position}")

    def literal(self) -> Any:
        token = self.peek()
        self.i += 1
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "word" and str(token.value).lower() == "null":
            return NULL
        if token.kind == "word" and str(token.value).lower() in ("true", "false"):
            return str(token.value).lower() == "true"
        raise SoqlError("MALFORMED_QUERY", f"expected a literal at {token.position}")


def _same(actual: Any, literal: Any) -> bool:
    if literal is NULL:
        return actual is None
    return actual == literal


def parse(text: str, known_fields: Callable[[str], set[str] | None]) -> Query:
    """Parse ``text``; ``known_fields(sobject)`` gives the queryable columns (None = no such
    object).  Raises ``SoqlError``."""
    return _Parser(text, known_fields).parse()
