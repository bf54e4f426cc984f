"""A small JSON Schema validator: the keywords grader/schemas/*.json use, nothing more.

type, enum, properties, required, additionalProperties (true/false), items, minimum, anyOf and
local $ref ("#/$defs/..."). The `jsonschema` package would do this too; it is not among the
project's dependencies, and these few keywords do not justify one. An unknown keyword is an error,
so a schema cannot silently ask for a check this validator does not make.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMAS = Path(__file__).parent / "schemas"
KNOWN = {"$schema", "$id", "title", "description", "$defs", "$ref", "type", "enum", "properties", "required"}
KNOWN |= {"additionalProperties", "items", "minimum", "anyOf"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def errors(value, schema: dict, root: dict | None = None, where: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, as '<path>: <what>' sentences ([] when it is valid)."""
    root = schema if root is None else root
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f"the schema at {where} uses keywords this validator does not check: {sorted(unknown)}")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return errors(value, target, root, where)
    found: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](value) for k in kinds):
            return [f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and TYPES["number"](value) and value < schema["minimum"]:
        found.append(f"{where}: {value} is below the minimum {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{where}: the required field {key!r} is missing")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                found += errors(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties", True) is False:
                found.append(f"{where}: the field {key!r} is not in the specification")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], root, f"{where}[{i}]")
    if "anyOf" in schema and all(errors(value, option, root, where) for option in schema["anyOf"]):
        found.append(f"{where}: matches none of the allowed forms ({len(schema['anyOf'])} in anyOf)")
    return found
