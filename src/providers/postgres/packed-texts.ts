/**
 * Lists of JSON texts (events, work items) and type names sent to PostgreSQL as one text
 * parameter, split on the server, instead of as a `text[]` parameter.
 *
 * Why: Bun.SQL sends an array parameter as an array literal, quoting every element and escaping
 * every `"` and `\` in it with a regular expression, and the server then parses that literal back
 * character by character. JSON text is full of quotes: under the 0 ms stress load that quoting was
 * the provider's largest single cost in the process (docs/stress-tests.md §6.4). A packed list is
 * the texts joined with U+001E, which JSON text never holds raw (JSON.stringify escapes every
 * character below U+0020) and no type name holds, so nothing needs escaping on either side; the statement unpacks it with
 * `string_to_array`, a plain split. A null element travels as a lone U+001F, which is not JSON.
 *
 * Only texts this process made with JSON.stringify may be packed (validate-args.ts makes every
 * event and work item text that way), and the type names of validated events and work items.
 * Anything else (ids, tokens, user strings) stays an array.
 */

/** Separates the texts of a packed list. */
const SEPARATOR = "\u001e";
/** A null element of a packed list. */
const NULL_ELEMENT = "\u001f";

/**
 * A packed list. A class, so that the storable check passes it over (JSON text is storable by
 * construction: JSON.stringify escapes NUL and unpaired surrogates; type names are ASCII) and
 * `wire` knows what to turn into its string.
 */
export class PackedTexts {
  private constructor(readonly text: string) {}

  /** `texts` must each be the output of JSON.stringify, a validated type name, or null. */
  static of(texts: readonly (string | null)[]): PackedTexts {
    let out = "";
    for (let i = 0; i < texts.length; i++) {
      if (i > 0) out += SEPARATOR;
      const t = texts[i];
      // A list of one empty text would read back as no element at all. JSON text and type names
      // are never empty: one that is means a caller broke this module's rule.
      if (t === "") throw new Error("PackedTexts: an empty element cannot be packed (only JSON texts and type names may be)");
      out += t === null || t === undefined ? NULL_ELEMENT : t;
    }
    return new PackedTexts(out);
  }
}

/** The SQL that unpacks placeholder `$n` (a PackedTexts) into a text[]. */
export function unpackSql(n: number): string {
  return `string_to_array($${n}::text, E'\\x1e', E'\\x1f')`;
}

/**
 * A bigint[] literal for a list of safe integers: what Bun.SQL would send, without quoting each
 * number through the escaping an arbitrary element needs.
 */
export function bigintList(nums: readonly number[]): string {
  return `{${nums.join(",")}}`;
}

/**
 * The SQL that packs a text[] expression of stored JSON texts (a history, whose rows are never
 * null) into one text, for a result: the server then sends one string instead of quoting every
 * element, and this process splits it (`unpackTexts`) instead of parsing an array literal. An
 * empty list is sent as null, so that '' stays one (empty, corrupt) element: a stored row that
 * decodes as nothing must still fail to decode, not vanish.
 */
export function packSql(expr: string): string {
  return `CASE WHEN cardinality(${expr}) > 0 THEN array_to_string(${expr}, E'\\x1e') END`;
}

/** The texts of a list packed by `packSql` (null: none). */
export function unpackTexts(v: unknown): string[] {
  if (Array.isArray(v)) return v as string[];
  return typeof v === "string" ? v.split(SEPARATOR) : [];
}

/** The parameters as Bun.SQL takes them: each PackedTexts replaced by its text. */
export function wire(params: readonly unknown[]): unknown[] {
  let out: unknown[] | null = null;
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p instanceof PackedTexts) {
      out ??= params.slice();
      out[i] = p.text;
    }
  }
  return out ?? (params as unknown[]);
}
