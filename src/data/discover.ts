// File-system discovery: walks a dataset folder (read-only), infers its layout, then checks every image and mask
// from its header and its last bytes (or a full decode on request): unreadable, truncated, oversized and
// mismatched files are reported by path and their items skipped, so the rest of the dataset still loads.
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { checkComplete, DEFAULT_MAX_PIXELS, decodeImage, ImageDecodeError, probeImage, type ImageInfo } from './decode.ts';
import { inferLayout, type LayoutOptions } from './layout.ts';
import { DatasetError, SPLITS, type DatasetDescription, type DatasetItem, type Problem } from './types.ts';

export interface DiscoverOptions extends LayoutOptions {
  /** Throw a DatasetError listing every problem instead of skipping what is broken. */
  strict?: boolean;
  /** Decode every file completely (finds corrupt pixel data; slow) instead of checking headers and file ends. */
  decode?: boolean;
  /** Images with more pixels are reported and skipped (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  /** Files checked at once (default 16). */
  concurrency?: number;
}

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 1024;

async function walk(root: string): Promise<{ files: string[]; dirs: string[]; problems: Problem[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const problems: Problem[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = rel ? `${root}/${rel}` : root;
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      problems.push({ path: abs, severity: 'error', message: `cannot list folder: ${(err as Error).message}` });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(`${root}/${r}`).catch(() => undefined);
        isDir = s?.isDirectory() ?? false;
        isFile = s?.isFile() ?? false;
      }
      if (isDir) {
        dirs.push(r);
        await visit(r);
      } else if (isFile) files.push(r);
    }
  };
  await visit('');
  return { files: files.sort(), dirs: dirs.sort(), problems };
}

/** Header, completeness and size checks of one file; throws ImageDecodeError with the reason. */
export async function checkImageFile(path: string, opts: { decode?: boolean; maxPixels?: number } = {}): Promise<ImageInfo> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let info: ImageInfo | undefined;
  if (opts.decode) {
    const bytes = new Uint8Array(await readFile(path));
    const { format, width, height, channels, bitDepth } = decodeImage(bytes, { maxPixels });
    return { format, width, height, channels, bitDepth };
  }
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, HEAD_BYTES));
    await fh.read(head, 0, head.length, 0);
    info = probeImage(head);
    let full = head;
    if (!info && size > head.length) {
      full = new Uint8Array(size);
      await fh.read(full, 0, size, 0);
      info = probeImage(full);
    }
    if (!info) throw new ImageDecodeError('image header incomplete (truncated file)');
    const tail = new Uint8Array(Math.min(size, TAIL_BYTES));
    await fh.read(tail, 0, tail.length, size - tail.length);
    const broken = checkComplete(info, full, tail, size);
    if (broken) throw new ImageDecodeError(broken);
  } finally {
    await fh.close();
  }
  if (info.width <= 0 || info.height <= 0) throw new ImageDecodeError(`invalid image size ${info.width}×${info.height}`);
  if (info.width * info.height > maxPixels) {
    throw new ImageDecodeError(`image of ${info.width}×${info.height} exceeds the limit of ${maxPixels} pixels; ` +
      'downscale it or raise the limit (--max-pixels)');
  }
  return info;
}

async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/**
 * Describes the dataset under `dir`. Never writes anything there. Broken files are listed in `problems` and left
 * out; with `strict`, any problem throws a DatasetError instead.
 */
export async function discoverDataset(dir: string, opts: DiscoverOptions = {}): Promise<DatasetDescription> {
  const root = dir.replace(/[\\/]+$/, '') || dir;
  const rootStat = await stat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new DatasetError(`${dir} is not a folder; give the dataset's root folder`);
  const listing = await walk(root);
  const desc = inferLayout(root, listing.files, listing.dirs, opts);
  desc.problems.unshift(...listing.problems);

  const items = desc.categories.flatMap((c) => c.subclasses.flatMap((s) => SPLITS.flatMap((k) => s.splits[k])));
  const infos = new Map<string, ImageInfo | Error>();
  const paths = [...new Set(items.flatMap((it) => [it.path, ...it.maskPaths]))];
  await pool(paths, opts.concurrency ?? 16, async (p) => {
    try {
      infos.set(p, await checkImageFile(p, opts));
    } catch (err) {
      const e = err instanceof ImageDecodeError ? err : new Error(`cannot read: ${(err as Error).message}`);
      infos.set(p, e);
    }
  });

  const skipped = new Set<DatasetItem>();
  for (const p of paths) {
    const info = infos.get(p);
    if (info instanceof Error) desc.problems.push({ path: p, severity: 'error', message: `${info.message}; skipped` });
  }
  for (const it of items) {
    const info = infos.get(it.path);
    if (info instanceof Error || !info) {
      skipped.add(it);
      continue;
    }
    it.width = info.width;
    it.height = info.height;
    it.channels = info.channels;
    for (const m of it.maskPaths) {
      const mi = infos.get(m);
      if (mi instanceof Error || !mi) {
        desc.problems.push({ path: it.path, severity: 'error', message: `its mask ${m} is unreadable; image skipped` });
        skipped.add(it);
      } else if (mi.width !== info.width || mi.height !== info.height) {
        desc.problems.push({ path: m, severity: 'error', message: `mask is ${mi.width}×${mi.height} but its image ` +
          `${it.path} is ${info.width}×${info.height}; resize the mask to its image (nearest neighbour) — image skipped` });
        skipped.add(it);
      }
    }
  }
  for (const c of desc.categories) {
    for (const s of c.subclasses) for (const k of SPLITS) s.splits[k] = s.splits[k].filter((it) => !skipped.has(it));
    // Gray and colour images in one category usually mean two sources were mixed by mistake.
    const byChannels = new Map<number, DatasetItem[]>();
    for (const s of c.subclasses) {
      for (const k of SPLITS) {
        for (const it of s.splits[k]) {
          const list = byChannels.get(it.channels!) ?? [];
          list.push(it);
          byChannels.set(it.channels!, list);
        }
      }
    }
    if (byChannels.size > 1) {
      const groups = [...byChannels.entries()].sort((a, b) => b[1].length - a[1].length);
      const [major] = groups[0]!;
      for (const [ch, list] of groups.slice(1)) {
        desc.problems.push({ path: list[0]!.path, severity: 'warning', message: `category '${c.name}' mixes ` +
          `${list.length} image(s) with ${ch} channel(s) (e.g. this one) with ${groups[0]![1].length} with ${major}; ` +
          'all are read as RGB' });
      }
    }
  }
  if (opts.strict && desc.problems.length > 0) {
    throw new DatasetError(`${root}: ${desc.problems.length} problem(s) found (strict mode)`, desc.problems);
  }
  return desc;
}
