package console

import "strings"

// diffLine is one line of a line diff: kept (' '), removed ('-') or added
// ('+'), with its line numbers in the old and new texts (0 when absent).
type diffLine struct {
	Op       byte
	Text     string
	Old, New int
}

// Kind names the line's op for styles and people.
func (d diffLine) Kind() string {
	switch d.Op {
	case '+':
		return "added"
	case '-':
		return "removed"
	case '~':
		return "gap"
	}
	return "kept"
}

// maxDiffCells bounds the work of a diff (lines of one text times lines
// of the other).
const maxDiffCells = 4 << 20

// lineDiff is a longest-common-subsequence diff of two texts by line, with
// runs of kept lines longer than 2*context cut to context lines around
// the changes (a '~' line stands for what is cut). ok is false when the
// texts are too large to diff.
func lineDiff(oldText, newText string, context int) (lines []diffLine, ok bool) {
	a, b := splitLines(oldText), splitLines(newText)
	if len(a)*len(b) > maxDiffCells {
		return nil, false
	}
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var all []diffLine
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			all = append(all, diffLine{Op: ' ', Text: a[i], Old: i + 1, New: j + 1})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			all = append(all, diffLine{Op: '-', Text: a[i], Old: i + 1})
			i++
		default:
			all = append(all, diffLine{Op: '+', Text: b[j], New: j + 1})
			j++
		}
	}
	// Keep changes and context lines around them.
	keep := make([]bool, len(all))
	for k, l := range all {
		if l.Op != ' ' {
			for m := max(0, k-context); m <= min(len(all)-1, k+context); m++ {
				keep[m] = true
			}
		}
	}
	for k, l := range all {
		switch {
		case keep[k]:
			lines = append(lines, l)
		case len(lines) == 0 || lines[len(lines)-1].Op != '~':
			lines = append(lines, diffLine{Op: '~'})
		}
	}
	return lines, true
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
