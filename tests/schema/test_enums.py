"""described_enum: every value described, and values that serialize as before."""

import enum

import pytest
import strawberry

from schema.enums import described_enum


class Colour(enum.StrEnum):
    RED = "RED"
    GREEN = "GREEN"


def test_values_get_their_descriptions_and_keep_their_strings():
    # given
    class Shade(enum.StrEnum):
        DARK = "DARK"
        LIGHT = "LIGHT"

    wrapped = described_enum(
        Shade, description="A shade.", values={Shade.DARK: "Dim.", Shade.LIGHT: "Bright."}
    )

    @strawberry.type(description="Reads.")
    class Query:
        @strawberry.field(description="One shade.")
        def shade(self, pick: wrapped = Shade.DARK) -> wrapped:  # type: ignore[valid-type]
            return pick

    # when
    schema = strawberry.Schema(query=Query)
    result = schema.execute_sync("{ dark: shade light: shade(pick: LIGHT) }")

    # then
    values = schema._schema.type_map["Shade"].values
    assert {k: v.description for k, v in values.items()} == {"DARK": "Dim.", "LIGHT": "Bright."}
    assert result.data == {"dark": "DARK", "light": "LIGHT"}
    assert Shade.DARK.value == "DARK"


def test_a_value_without_a_description_is_refused():
    with pytest.raises(TypeError, match="GREEN"):
        described_enum(Colour, description="A colour.", values={Colour.RED: "Warm."})
