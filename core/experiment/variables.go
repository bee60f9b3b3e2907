package experiment

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "default"},
		{Name: "type"},
		{Name: "description"},
	},
}

type variable struct {
	name     string
	ty       cty.Type
	value    cty.Value
	hasValue bool
	defRange hcl.Range
}

// resolveVariables decodes the variable blocks, applies the -var overrides
// ("name=value" strings) and returns the values by name. A -var value is
// taken literally for a string variable and parsed as an HCL expression
// otherwise, as Terraform does; a variable without a declared type takes
// its default's type, or string.
func resolveVariables(blocks hcl.Blocks, overrides []string) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vars := map[string]*variable{}
	var order []string
	for _, b := range blocks {
		if b.Type != "variable" {
			continue
		}
		name := b.Labels[0]
		content, d := b.Body.Content(variableSchema)
		diags = append(diags, d...)
		v := &variable{name: name, ty: cty.DynamicPseudoType, defRange: b.DefRange}
		if a, ok := content.Attributes["type"]; ok {
			ty, d := typeexpr.TypeConstraint(a.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.ty = ty
			}
		}
		if a, ok := content.Attributes["default"]; ok {
			val, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			if !d.HasErrors() {
				if v.ty == cty.DynamicPseudoType {
					v.ty = val.Type()
				}
				cv, err := convert.Convert(val, v.ty)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid default value for variable",
						Detail:   fmt.Sprintf("The default of variable %q does not match its type: %s.", name, err),
						Subject:  a.Expr.Range().Ptr(),
					})
				} else {
					v.value, v.hasValue = cv, true
				}
			}
		}
		if v.ty == cty.DynamicPseudoType {
			v.ty = cty.String
		}
		if _, dup := vars[name]; dup {
			continue // reported with the other duplicates
		}
		vars[name] = v
		order = append(order, name)
	}

	for _, o := range overrides {
		diags = append(diags, applyOverride(vars, order, o)...)
	}

	out := make(map[string]cty.Value, len(vars))
	for _, name := range order {
		v := vars[name]
		if !v.hasValue {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("Variable %q has no default; set it with -var %s=VALUE.", name, name),
				Subject:  v.defRange.Ptr(),
			})
			continue
		}
		out[name] = v.value
	}
	return out, diags
}

func applyOverride(vars map[string]*variable, order []string, o string) hcl.Diagnostics {
	name, raw, ok := strings.Cut(o, "=")
	argRange := hcl.Range{Filename: "<-var>", Start: hcl.InitialPos,
		End: hcl.Pos{Line: 1, Column: len(o) + 1, Byte: len(o)}}
	if !ok || name == "" {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid -var option",
			Detail:   fmt.Sprintf("The -var option %q is not of the form NAME=VALUE.", o),
			Subject:  &argRange,
		}}
	}
	v, ok := vars[name]
	if !ok {
		names := append([]string(nil), order...)
		sort.Strings(names)
		detail := fmt.Sprintf("The -var option sets %q, but no variable of that name is declared.", name)
		if s := didYouMean(name, names); s != "" {
			detail += s
		} else if len(names) > 0 {
			detail += " Declared variables: " + strings.Join(names, ", ") + "."
		}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Undeclared variable",
			Detail:   detail,
			Subject:  &argRange,
		}}
	}
	filename := fmt.Sprintf("<value for var.%s>", name)
	if v.ty == cty.String {
		v.value, v.hasValue = cty.StringVal(raw), true
		return nil
	}
	invalid := func(why string, rng hcl.Range) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("The -var value %q for variable %q is not a valid %s: %s. A non-string value is written as in HCL: 3, true, [1, 2], \"text\".",
				raw, name, v.ty.FriendlyName(), why),
			Subject: &rng,
		}}
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return invalid(strings.ToLower(diags.Errs()[0].(*hcl.Diagnostic).Summary), *diags.Errs()[0].(*hcl.Diagnostic).Subject)
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return invalid(strings.ToLower(diags.Errs()[0].(*hcl.Diagnostic).Summary), expr.Range())
	}
	cv, err := convert.Convert(val, v.ty)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The -var value %q for variable %q is not a valid %s: %s.", raw, name, v.ty.FriendlyName(), err),
			Subject:  expr.Range().Ptr(),
		}}
	}
	v.value, v.hasValue = cv, true
	return nil
}
