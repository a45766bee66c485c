package federation

import (
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
)

// conditionCostLimit bounds one evaluation of a rule's condition, in
// cel-go's cost units (about one per operation, more per byte of a string
// operation): far above any sensible condition over a token's claims
// (a dozen comparisons and a regular expression cost well under 1,000),
// far below anything that could hold an exchange up. A condition over
// the limit fails, and a failing condition is no match.
const conditionCostLimit = 100_000

// conditionMaxLength bounds a condition's source text.
const conditionMaxLength = 4096

// conditionEnv is the CEL environment of conditions: one variable,
// claims, a map(string, dyn) holding the foreign token's claims as
// encoding/json decodes them. Built once: an Env is immutable and safe
// for concurrent use, like a compiled regular expression.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.ParserExpressionSizeLimit(conditionMaxLength),
		cel.ParserRecursionLimit(64),
	)
})

// errConditionType is a condition whose result is not a boolean.
var errConditionType = errors.New("the condition must be a boolean expression")

// compileCondition parses and type-checks expr (it must yield a bool) and
// returns its program, with the cost limit. The error is CEL's own
// message, for the person who wrote the condition.
func compileCondition(expr string) (cel.Program, error) {
	if len(expr) > conditionMaxLength {
		return nil, fmt.Errorf("must be at most %d bytes", conditionMaxLength)
	}
	env, err := conditionEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, err
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("%w, not %s", errConditionType, t)
	}
	return env.Program(ast, cel.CostLimit(conditionCostLimit), cel.InterruptCheckFrequency(100))
}

// evalCondition runs expr over claims. Only a true result is a match: a
// condition that does not compile, fails (a missing claim, a type
// mismatch, the cost limit) or is false is no match, with the reason.
func evalCondition(expr string, claims map[string]any) error {
	prg, err := compileCondition(expr)
	if err != nil {
		return fmt.Errorf("does not compile: %w", err)
	}
	out, _, err := prg.Eval(map[string]any{"claims": claims})
	if err != nil {
		return fmt.Errorf("failed: %w", err)
	}
	if b, ok := out.Value().(bool); !ok || !b {
		return errors.New("is false")
	}
	return nil
}
