"""python -m schema.print > schema.graphql: the SDL that clients are written against."""

from schema import build_schema

if __name__ == "__main__":
    print(build_schema().as_str())
