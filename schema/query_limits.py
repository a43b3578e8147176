"""How deep a document may nest and how many aliases it may use, as validation rules.

A query's depth is its deepest chain of nested fields, the leaf included (``{ viewer { kind } }``
is 2 deep); fragments add no level of their own. Aliases are counted as if every fragment were
written out where it is spread.

strawberry's QueryDepthLimiter and MaxAliasesLimiter do the same walks, but the first does not
count the leaf (its ``max_depth=12`` let 13 levels through), both walk a fragment again at every
spread (fragments that each spread the next twice take exponential time: a few hundred bytes
hold a server for minutes), and both make their rule class per request, which keeps
ValidationCache from ever hitting. Here each fragment is measured once per document, and the rule
classes are made once, at import.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


class _Document:
    """One document's fragments, each measured once."""

    def __init__(self, context: ValidationContext, max_depth: int = 0) -> None:
        self.max_depth = max_depth
        definitions = context.document.definitions
        self.operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
        self.fragments = {
            d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._open: set[str] = set()  # being measured: a cycle (NoFragmentCycles reports it)

    def depth(self, selection_set: SelectionSetNode, limit: int) -> int:
        """The deepest level under ``selection_set``; stops looking once past ``limit``."""
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__") and name != "__typename":
                    continue  # introspection: the token limit bounds it
                found = 1
                if selection.selection_set is not None:
                    found += self.depth(selection.selection_set, limit - 1)
            elif isinstance(selection, InlineFragmentNode):
                found = self.depth(selection.selection_set, limit)
            elif isinstance(selection, FragmentSpreadNode):
                found = self._fragment_depth(selection.name.value, limit)
            else:  # pragma: no cover - graphql has no other selection
                continue
            deepest = max(deepest, found)
            if deepest > limit:
                break
        return deepest

    def _fragment_depth(self, name: str, limit: int) -> int:
        # Measured against the whole limit once: a depth past it is past any smaller one too.
        if name not in self._depths:
            fragment = self.fragments.get(name)
            if fragment is None or name in self._open:
                return 0
            self._open.add(name)
            self._depths[name] = self.depth(fragment.selection_set, self.max_depth)
            self._open.discard(name)
        return self._depths[name]

    def aliases(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += (selection.alias is not None) + self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                count += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._fragment_aliases(selection.name.value)
        return count

    def _fragment_aliases(self, name: str) -> int:
        if name not in self._aliases:
            fragment = self.fragments.get(name)
            if fragment is None or name in self._open:
                return 0
            self._open.add(name)
            self._aliases[name] = self.aliases(fragment.selection_set)
            self._open.discard(name)
        return self._aliases[name]


def depth_limit(max_depth: int) -> type[ValidationRule]:
    """A rule class refusing operations deeper than ``max_depth``."""

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = _Document(context, max_depth)
            for operation in document.operations:
                if document.depth(operation.selection_set, max_depth) > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}", operation
                        )
                    )

    return DepthLimit


def alias_limit(max_aliases: int) -> type[ValidationRule]:
    """A rule class refusing documents with more than ``max_aliases`` aliases."""

    class AliasLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = _Document(context)
            total = sum(document.aliases(o.selection_set) for o in document.operations)
            if total > max_aliases:
                context.report_error(GraphQLError(f"{total} aliases found. Allowed: {max_aliases}"))

    return AliasLimit
