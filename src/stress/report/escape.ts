/**
 * Escaping for everything the report puts into HTML or SVG text and attributes. Provider labels
 * (a provider module chooses its own), config labels and commit subjects are user data
 * (docs/stress-tests.md §10.4): they pass through here, never into markup as they are.
 */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `s` safe as HTML/XML text and as a quoted attribute value. */
export function escapeXml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
