import { PinfoldError } from './errors.ts'

/**
 * Characters that can drive a terminal or disguise text when a name is shown: C0 controls
 * (ESC, CR, LF, TAB, …), DEL, C1 controls (U+0080–U+009F, CSI among them), the line and
 * paragraph separators, and the bidi embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069) that make `txt.exe` read as `exe.txt`.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** Control characters by their usual escapes; others as \xHH or \uHHHH. */
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' }

function escapeOne(char: string): string {
  const named = NAMED[char]
  if (named !== undefined) return named
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

const jsonEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * `text` with every unsafe character replaced by a visible escape (`\x1b`, `\u202e`, `\n`).
 * With `json`, `text` is JSON and every escape is `\uHHHH`, so it stays the same JSON value
 * (JSON.stringify escapes C0 but leaves DEL, C1 and bidi characters raw).
 */
export function escapeControlCharacters(text: string, options: { json?: boolean } = {}): string {
  return text.replace(UNSAFE_ALL, options.json ? jsonEscape : escapeOne)
}

/** Throws ERR_CONTROL_CHARACTER when `value` holds an unsafe character; `what` names the field. */
export function rejectControlCharacters(value: string, what: string): string {
  const found = UNSAFE.exec(value)
  if (found) {
    throw new PinfoldError(
      'ERR_CONTROL_CHARACTER',
      `${what} must not contain control characters or bidi overrides (found ${escapeOne(found[0])} in "${escapeControlCharacters(value.slice(0, 100))}")`,
      { userError: true },
    )
  }
  return value
}
