"""Every part of the schema a client can see says what it is: GraphiQL, generated SDKs and the
committed SDL are the documentation, so an undescribed type, field, argument, input field or enum
value is a gap in it."""

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    specified_scalar_types,
)

from schema import build_schema


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Coordinates (Type.field(arg:), Enum.VALUE) of every part that has no description."""
    missing: list[str] = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        missing += _missing_in(graphql_type)
    return missing


def _missing_in(graphql_type: GraphQLNamedType) -> list[str]:
    name = graphql_type.name
    missing = [] if graphql_type.description else [name]
    if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in graphql_type.fields.items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
            missing += [
                f"{name}.{field_name}({arg}:)" for arg, a in field.args.items() if not a.description
            ]
    if isinstance(graphql_type, GraphQLInputObjectType):
        missing += [f"{name}.{f}" for f, d in graphql_type.fields.items() if not d.description]
    if isinstance(graphql_type, GraphQLEnumType):
        missing += [f"{name}.{v}" for v, d in graphql_type.values.items() if not d.description]
    return missing


def test_every_type_field_argument_and_enum_value_has_a_description():
    # given
    schema = build_schema()._schema

    # when
    missing = undescribed(schema)

    # then
    assert missing == []


def test_the_walk_finds_what_is_undescribed():
    # given: a schema with one undescribed part of each kind
    from graphql import build_schema as from_sdl

    schema = from_sdl(
        '''
        """Reads."""
        type Query {
          """A field."""
          thing(arg: Int): Thing
          bare: Int
        }
        type Thing { """An input."""
          x(input: In): Kind }
        input In { y: Int }
        """Kinds."""
        enum Kind { A }
        '''
    )

    # when
    missing = undescribed(schema)

    # then
    assert sorted(missing) == sorted(
        ["Query.thing(arg:)", "Query.bare", "Thing", "Thing.x(input:)", "In", "In.y", "Kind.A"]
    )
