// Small readers of the report's SVG for the tests: elements by class, attributes, tick positions.

/** Every element (start tag) of `tag` with `class="cls"`, as its attribute map. */
export function elements(svg: string, tag: string, cls: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\s([^>]*?)/?>`, "g"))) {
    const attrs = attributes(m[1]!);
    if ((attrs.class ?? "").split(" ").includes(cls)) out.push(attrs);
  }
  return out;
}

export function attributes(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const a of text.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
  return attrs;
}

/** The y (px) of the y-axis tick labelled `label`. */
export function yTickAt(svg: string, label: string): number {
  for (const m of svg.matchAll(/<text class="tick y-tick"([^>]*)>([^<]*)<\/text>/g)) {
    if (m[2] === label) return Number(attributes(m[1]!).y);
  }
  throw new Error(`no y tick "${label}" in the chart`);
}

/** The x (px) of the x-axis tick labelled `label`. */
export function xTickAt(svg: string, label: string): number {
  for (const m of svg.matchAll(/<text class="tick x-tick"([^>]*)>(?:<title>[^<]*<\/title>)?([^<]*)<\/text>/g)) {
    if (m[2] === label) return Number(attributes(m[1]!).x);
  }
  throw new Error(`no x tick "${label}" in the chart`);
}

/** Text content of every <text> of class `cls`. */
export function texts(svg: string, cls: string): string[] {
  return [...svg.matchAll(/<text class="([^"]*)"[^>]*>(?:<title>[^<]*<\/title>)?([^<]*)<\/text>/g)].filter((m) => m[1]!.split(" ").includes(cls)).map((m) => m[2]!);
}
