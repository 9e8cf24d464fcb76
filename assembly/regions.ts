// Connected ground-truth regions of one binary mask with 8-connectivity (the MVTec AD evaluation labels masks with
// scipy.ndimage.label and a 3x3 all-ones structure). Two raster passes with union-find: provisional labels link
// through `parent`, whose entries never exceed their own index, so one ascending sweep resolves every label to its
// root.
//
// mask: h*w bytes (0/1). out: h*w u32, receives each pixel's region size (0 for background).
// parent, count: scratch of at least h*w + 1 u32 each. Returns the number of regions.
export function regionSizes(mask: usize, h: i32, w: i32, out: usize, parent: usize, count: usize): i32 {
  let next: u32 = 1;
  store<u32>(parent, 0);
  for (let y = 0; y < h; y++) {
    const row = <usize>y * <usize>w;
    for (let x = 0; x < w; x++) {
      const i = row + <usize>x;
      if (load<u8>(mask + i) == 0) {
        store<u32>(out + (i << 2), 0);
        continue;
      }
      let l: u32 = 0;
      if (y > 0) l = load<u32>(out + ((i - <usize>w) << 2));
      if (l == 0) {
        // North is background. West and north-west touch each other, north-east touches neither.
        let a: u32 = 0;
        if (x > 0) {
          a = load<u32>(out + ((i - 1) << 2));
          if (a == 0 && y > 0) a = load<u32>(out + ((i - <usize>w - 1) << 2));
        }
        const c: u32 = y > 0 && x + 1 < w ? load<u32>(out + ((i - <usize>w + 1) << 2)) : 0;
        if (a != 0) {
          l = a;
          if (c != 0) union(parent, a, c);
        } else if (c != 0) {
          l = c;
        } else {
          l = next;
          store<u32>(parent + (<usize>next << 2), next);
          next++;
        }
      }
      store<u32>(out + (i << 2), l);
    }
  }
  let regions = 0;
  for (let l: u32 = 1; l < next; l++) {
    const p = load<u32>(parent + (<usize>l << 2));
    if (p == l) regions++;
    else store<u32>(parent + (<usize>l << 2), load<u32>(parent + (<usize>p << 2)));
    store<u32>(count + (<usize>l << 2), 0);
  }
  const n = <usize>h * <usize>w;
  for (let i: usize = 0; i < n; i++) {
    const l = load<u32>(out + (i << 2));
    if (l != 0) {
      const c = count + (<usize>load<u32>(parent + (<usize>l << 2)) << 2);
      store<u32>(c, load<u32>(c) + 1);
    }
  }
  for (let i: usize = 0; i < n; i++) {
    const l = load<u32>(out + (i << 2));
    if (l != 0) store<u32>(out + (i << 2), load<u32>(count + (<usize>load<u32>(parent + (<usize>l << 2)) << 2)));
  }
  return regions;
}

function find(parent: usize, x: u32): u32 {
  let p = load<u32>(parent + (<usize>x << 2));
  while (p != x) {
    const g = load<u32>(parent + (<usize>p << 2));
    store<u32>(parent + (<usize>x << 2), g);
    x = p;
    p = g;
  }
  return x;
}

// Links the larger root under the smaller one, which keeps parent[l] <= l.
function union(parent: usize, a: u32, b: u32): void {
  const ra = find(parent, a);
  const rb = find(parent, b);
  if (ra < rb) store<u32>(parent + (<usize>rb << 2), ra);
  else if (rb < ra) store<u32>(parent + (<usize>ra << 2), rb);
}
