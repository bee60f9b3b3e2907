// Package episode holds Lathe's one episode type (Episode: the states and
// actions of a played episode, as synthesis, evals and SFT store and read
// them) and renders what a model sees in a multi-turn episode: the tool's
// prompt, the first state, then (action, new state) pairs, as in the
// Chain-of-Edits paper. Supervised training and rollouts both build their
// contexts here, so a model is trained on exactly the text it later sees.
//
// The layout, with history "full":
//
//	<prompt>
//	<state 0>
//	$ <action 1><state 1>
//	$ <action 2><state 2>
//	$
//
// The model writes its next action after the final "$ ". Every action ends
// with one of the tool's stop strings (a newline for a one-line DSL
// command), so the next state starts on a fresh line.
package episode

import (
	"fmt"
	"strings"

	"github.com/lathe-ml/lathe/sdk"
)

// ActionPrompt precedes every action in a context.
const ActionPrompt = "$ "

// History selects how much of the episode goes into the context.
type History string

const (
	// Full keeps every (action, state) pair.
	Full History = "full"
	// Last keeps only the prompt and the latest state, for models whose
	// context window cannot hold a long episode.
	Last History = "last"
)

// ParseHistory accepts "full" or "last".
func ParseHistory(s string) (History, error) {
	switch History(s) {
	case Full, Last:
		return History(s), nil
	case "":
		return Full, nil
	}
	return "", fmt.Errorf("episode: unknown history %q (want %q or %q)", s, Full, Last)
}

// Context renders the context in which the model writes action
// len(actions)+1. states holds the state after Reset and after each action,
// so len(states) == len(actions)+1. Each past action is ended by the tool's
// stop strings as the model would have written it (see EndAction).
func Context(prompt string, states, actions, stop []string, h History) (string, error) {
	if len(states) != len(actions)+1 {
		return "", fmt.Errorf("episode: %d states for %d actions, want one more state than actions", len(states), len(actions))
	}
	var b strings.Builder
	b.WriteString(prompt)
	if !strings.HasSuffix(prompt, "\n") {
		b.WriteByte('\n')
	}
	if h == Last {
		writeState(&b, states[len(states)-1])
		b.WriteString(ActionPrompt)
		return b.String(), nil
	}
	writeState(&b, states[0])
	for i, a := range actions {
		b.WriteString(ActionPrompt)
		b.WriteString(EndAction(a, stop))
		writeState(&b, states[i+1])
	}
	b.WriteString(ActionPrompt)
	return b.String(), nil
}

// Increment is what a full-history context gains at one turn: the text
// before the action (the whole context at the first turn, the previous
// action's new state after it) and the action, ended by a stop string.
type Increment struct {
	Context string
	Action  string
}

// Increments splits a full-history episode into its turns: the contexts of
// Increments[:t+1] and the actions of Increments[:t], concatenated, are
// exactly Context(prompt, states[:t+1], actions[:t], stop, Full), so a
// whole episode can be read as one sequence. states holds one more state
// than actions, as for Context.
func Increments(prompt string, states, actions, stop []string) ([]Increment, error) {
	if len(states) != len(actions)+1 {
		return nil, fmt.Errorf("episode: %d states for %d actions, want one more state than actions", len(states), len(actions))
	}
	out := make([]Increment, len(actions))
	for t, a := range actions {
		var b strings.Builder
		if t == 0 {
			b.WriteString(prompt)
			if !strings.HasSuffix(prompt, "\n") {
				b.WriteByte('\n')
			}
		}
		writeState(&b, states[t])
		b.WriteString(ActionPrompt)
		out[t] = Increment{Context: b.String(), Action: EndAction(a, stop)}
	}
	return out, nil
}

func writeState(b *strings.Builder, state string) {
	b.WriteString(state)
	if !strings.HasSuffix(state, "\n") {
		b.WriteByte('\n')
	}
}

// EndAction returns the action as the model writes it: ended by the tool's
// first stop string unless it already ends with one. Without stop strings
// a newline ends the action.
func EndAction(action string, stop []string) string {
	if len(stop) == 0 {
		stop = []string{"\n"}
	}
	for _, s := range stop {
		if s != "" && strings.HasSuffix(action, s) {
			return action
		}
	}
	return action + stop[0]
}

// Messages renders the same context as Context, as the chat turns of
// sdk.Message, for models that take messages instead of one text: a user
// message holding the prompt and the first state (or, with history Last,
// the latest state), then for every action an assistant message holding
// it without the stop string that ended it and a user message holding
// the state it led to. Render turns the messages back into Context's text.
func Messages(prompt string, states, actions, stop []string, h History) ([]sdk.Message, error) {
	if len(states) != len(actions)+1 {
		return nil, fmt.Errorf("episode: %d states for %d actions, want one more state than actions", len(states), len(actions))
	}
	var first strings.Builder
	first.WriteString(prompt)
	if !strings.HasSuffix(prompt, "\n") {
		first.WriteByte('\n')
	}
	if h == Last {
		writeState(&first, states[len(states)-1])
		return []sdk.Message{{Role: sdk.RoleUser, Content: first.String()}}, nil
	}
	writeState(&first, states[0])
	out := make([]sdk.Message, 0, 1+2*len(actions))
	out = append(out, sdk.Message{Role: sdk.RoleUser, Content: first.String()})
	for i, a := range actions {
		var b strings.Builder
		writeState(&b, states[i+1])
		out = append(out,
			sdk.Message{Role: sdk.RoleAssistant, Content: TrimStop(a, stop)},
			sdk.Message{Role: sdk.RoleUser, Content: b.String()})
	}
	return out, nil
}

// TrimStop returns the action without the stop string it ends with, as
// a chat API returns a completion; EndAction puts the first one back.
func TrimStop(action string, stop []string) string {
	if len(stop) == 0 {
		stop = []string{"\n"}
	}
	for _, s := range stop {
		if s != "" && strings.HasSuffix(action, s) {
			return strings.TrimSuffix(action, s)
		}
	}
	return action
}

// Render lays chat messages out as a context: user (and system) text as
// it is, each ended by a newline, every assistant message after
// ActionPrompt and ended by the first stop string (EndAction), and a final
// ActionPrompt when the last message is not the model's. For the messages
// of Messages it returns exactly Context's text when every action ended
// with the first stop string or none, which the built-in tools' single
// stop strings make always true.
func Render(messages []sdk.Message, stop []string) string {
	var b strings.Builder
	last := ""
	for _, m := range messages {
		if m.Role == sdk.RoleAssistant {
			b.WriteString(ActionPrompt)
			b.WriteString(EndAction(m.Content, stop))
		} else {
			writeState(&b, m.Content)
		}
		last = m.Role
	}
	if last != sdk.RoleAssistant {
		b.WriteString(ActionPrompt)
	}
	return b.String()
}
