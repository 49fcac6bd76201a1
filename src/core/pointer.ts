/** JSON pointer segments (RFC 6901): the fleet tree's and the fast YAML path's, one definition. */
export function escapeSegment(seg: string | number): string {
  if (typeof seg === 'number') return String(seg);
  if (!seg.includes('~') && !seg.includes('/')) return seg;
  return seg.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function splitPointer(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}
