"""The query language: a lexer and parser of our own for AND by default, OR, NOT or `-`,
"phrases", `field:value` and parentheses, full-width forms included (（ ） “ ” ：). It never fails
on odd input (a stray operator or quote is read as a word), except on nesting deeper than
MAX_NESTING; compiler.py turns the tree into Whoosh queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import InvalidParameter

MAX_NESTING = 20

# Names accepted before a colon in a query, and the index field each searches.
QUERY_FIELDS = {
    "title": "title",
    "content": "content",
    "issuer": "issuer",
    "type": "node_type",
    "node_type": "node_type",
    "region": "region",
    "sector": "sector",
    "year": "year",
    "source": "source_file",
    "kind": "kind",
    "doc_type": "doc_type",
    "status": "status",
}

# Quote marks a sentence may carry around a name it cites (北京如何通过“碳排放权交易市场”实现…).
QUOTE_MARKS = '"“”「」『』'


@dataclass
class Node:
    kind: str  # and, or, not, word, phrase, field
    children: list[Node] = field(default_factory=list)
    text: str = ""
    field: str = ""


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens: ( ) - OR AND NOT, "phrase", word. An unclosed quote runs to the end."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()（）":
            tokens.append(("(" if ch in "(（" else ")", ch))
            i += 1
        elif ch in '"“”':
            close = text.find('"' if ch == '"' else "”", i + 1)
            if ch == "“" and close < 0:
                close = text.find('"', i + 1)
            end = n if close < 0 else close
            tokens.append(("phrase", text[i + 1 : end]))
            i = end + 1
        elif (
            ch == "-"
            and i + 1 < n
            and not text[i + 1].isspace()
            and (i == 0 or text[i - 1].isspace() or text[i - 1] in "(（")
        ):
            tokens.append(("not", ch))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()（）"“”':
                j += 1
            word = text[i:j]
            if word in ("OR", "AND", "NOT"):
                tokens.append((word.lower() if word != "NOT" else "not", word))
            elif (
                j < n
                and text[j] in '"“'
                and word[-1] in ":："
                and word[:-1].lower() in QUERY_FIELDS
            ):
                # field:"a phrase"
                ch = text[j]
                close = text.find('"' if ch == '"' else "”", j + 1)
                end = n if close < 0 else close
                tokens.append(("field", word[:-1] + "\x00" + text[j + 1 : end]))
                j = end + 1
            else:
                tokens.append(("word", word))
            i = j
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        items = [self.or_expr(0)]
        while self.i < len(self.tokens):  # a stray ")" ends a group early: skip it, go on
            self.i += 1
            items.append(self.or_expr(0))
        # one flat AND, not one level per stray ")": a query of them must not nest 1000 deep
        return items[0] if len(items) == 1 else Node("and", items)

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.peek() == "or":
            self.i += 1
            items.append(self.and_expr(depth))
        items = [i for i in items if not _empty(i)]
        return items[0] if len(items) == 1 else Node("or", items)

    def and_expr(self, depth: int) -> Node:
        items = []
        while (kind := self.peek()) not in (None, "or", ")"):
            if kind == "and":
                self.i += 1
                continue
            items.append(self.unary(depth))
        items = [i for i in items if not _empty(i)]
        return items[0] if len(items) == 1 else Node("and", items)

    def unary(self, depth: int) -> Node:
        negations = 0
        while self.peek() == "not":  # counted, not nested: NOT NOT x is x, at any length
            self.i += 1
            negations += 1
        if negations and self.peek() in (None, "or", ")"):
            return Node("and")
        node = self.primary(depth)
        return Node("not", [node]) if negations % 2 else node

    def primary(self, depth: int) -> Node:
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "(":
            if depth >= MAX_NESTING:
                raise InvalidParameter(
                    "q", f"q nests parentheses deeper than {MAX_NESTING} levels; simplify it"
                )
            node = self.or_expr(depth + 1)
            if self.peek() == ")":
                self.i += 1
            return node
        if kind == "phrase":
            return Node("phrase", text=text)
        if kind == "field":
            name, value = text.split("\x00", 1)
            return Node("field", text=value, field=QUERY_FIELDS[name.lower()])
        if kind == "word":
            name, sep, value = text.partition(":")
            if not sep:
                name, sep, value = text.partition("：")
            if sep and value and name.lower() in QUERY_FIELDS:
                return Node("field", text=value, field=QUERY_FIELDS[name.lower()])
        return Node("word", text=text)  # also a lone ")" or stray operator word


def _empty(node: Node) -> bool:
    return node.kind in ("and", "or") and not node.children


def parse_query(text: str) -> Node:
    """The syntax tree of a query string. Never fails on odd input, except too deep nesting."""
    return _Parser(_lex(text)).parse()


def is_plain(node: Node) -> bool:
    """A query of plain words only (no operators, phrases or fields)."""
    return node.kind == "word" or (
        node.kind == "and" and all(c.kind == "word" for c in node.children)
    )


def walk(node: Node) -> Iterator[Node]:
    """The node and every node below it, depth first."""
    yield node
    for child in node.children:
        yield from walk(child)
