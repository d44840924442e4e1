"""A payload field whose name ends in `.$` is a path, whatever the name (moto 5.2.5 parser fault).

Step Functions: "For key-value pairs where the value is selected using a path, the key name
must end in `.$`" - any key (https://docs.aws.amazon.com/step-functions/latest/dg/
input-output-inputpath-params.html). moto's ASL lexer has a token of its own for `"RoleArn.$"`
(the task-level `Credentials.RoleArn.$`), so inside Parameters/ResultSelector that key reaches
`visitPayload_binding_value` as a plain string field: `{"RoleArn.$": "$.role"}` gave the literal
key `RoleArn.$` and the text `$.role`. Here such a binding becomes the path binding the grammar
builds for other names, from the expression the parser already made of the value (path, context
path, variable or intrinsic function); any other value stays as moto leaves it.
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadbinding import (
    payload_binding,
)
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

from localaws.core.patching import Patches

patches = Patches("stepfunctions.field_paths")


def _path_expression(preprocessor: Preprocessor, literal) -> object | None:
    """The value's string expression if it is a path, context path, variable or intrinsic
    function (the lexer already parsed it as one), else None."""
    expression = getattr(literal, "string_expression", lambda: None)()
    simple = getattr(expression, "string_expression_simple", lambda: None)()
    return preprocessor.visit(simple) if simple is not None else None


@patches.wrap(Preprocessor, "visitPayload_binding_value")
def visit_payload_binding_value(original, self, ctx):
    binding = original(self, ctx)
    if not (
        isinstance(binding, payload_binding.PayloadBindingValue) and binding.field.endswith(".$")
    ):
        return binding
    value = next(iter(ctx.payload_value_decl().getChildren()), None)
    literal = getattr(value, "string_literal", lambda: None)()
    expression = _path_expression(self, literal)
    if expression is None:
        return binding
    return payload_binding.PayloadBindingStringExpressionSimple(
        field=binding.field[:-2], string_expression_simple=expression
    )
