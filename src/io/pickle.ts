// A restricted reader of Python pickles (protocols 2-5, the opcodes torch.save emits for state dicts). It never runs
// anything: every GLOBAL is looked up in an allowlist the caller gives, and a pickle naming any other global
// (os.system, builtins.eval, a model class...) is refused with an error naming that global, before REDUCE could call
// it. Objects come out as plain JavaScript values; calls of allowed globals go to the caller's functions.

/** A malformed, truncated or refused pickle; the message names the file, the byte offset and the reason. */
export class PickleError extends Error {}

/** What an allowed global becomes: called by REDUCE (and NEWOBJ) with the argument tuple, updated by BUILD. */
export interface PickleGlobal {
  call(args: unknown[]): unknown;
  /** BUILD's state for objects this global made; absent = BUILD on them is refused. */
  build?(obj: unknown, state: unknown): void;
}

/** A Python dict whose keys are strings or numbers, in insertion order (OrderedDict and dict alike). */
export type PyDict = Map<unknown, unknown>;

export interface UnpickleOptions {
  /** 'module name' (e.g. 'collections OrderedDict') -> its stand-in. Anything else is refused. */
  globals: Readonly<Record<string, PickleGlobal>>;
  /** BINPERSID's loader (torch: storage records); without it, persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
  /** File name for messages. */
  name: string;
  /** What the allowlist stands for, appended to the refusal of another global. */
  allowed: string;
}

const MARK = Symbol('mark');

/** Decodes one pickle (up to its STOP opcode) from `bytes`. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const builders = new WeakMap<object, PickleGlobal>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  const fail = (why: string): never => {
    throw new PickleError(`${opts.name}: ${why} (pickle byte ${pos})`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`the pickle ends early (needs ${n} more bytes; truncated file?)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a length of ${v} bytes`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a text argument has no end of line (truncated file?)');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => (stack.length === 0 ? fail('stack underflow (not a pickle?)') : stack.pop());
  const top = () => (stack.length === 0 ? fail('stack underflow (not a pickle?)') : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const m = stack.lastIndexOf(MARK);
    if (m < 0) fail('no MARK on the stack (not a pickle?)');
    const items = stack.slice(m + 1);
    stack.length = m;
    return items;
  };
  const findGlobal = (module: string, name: string): unknown => {
    const g = opts.globals[`${module} ${name}`];
    if (!g) {
      fail(`refusing the Python global ${module}.${name}: texad's unpickler accepts only ${opts.allowed}. The file ` +
        'is not a plain state dict (a pickled model class, or code meant to run when loaded); nothing was executed');
    }
    return g;
  };
  const isGlobal = (g: unknown): g is PickleGlobal => typeof g === 'object' && g !== null && 'call' in g;
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (dict as PyDict).set(items[i], items[i + 1]);
  };
  const call = (fn: unknown, args: unknown) => {
    if (!isGlobal(fn) || !Array.isArray(args)) fail('REDUCE of something that is not an allowed global');
    const obj = (fn as PickleGlobal).call(args as unknown[]);
    if (typeof obj === 'object' && obj !== null && (fn as PickleGlobal).build) builders.set(obj, fn as PickleGlobal);
    return obj;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: pos += 8; break; // FRAME: a length hint
      case 0x2e: { // STOP
        const result = pop();
        return result;
      }
      case 0x28: stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: { // LONG1: little-endian two's complement
        const b = take(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(latin1.decode(take(u32()))); break; // BINSTRING
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x29: stack.push([]); break; // EMPTY_TUPLE (tuples are arrays)
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail('APPEND to a non-list'); (l as unknown[]).push(v); break; }
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l)) fail('APPENDS to a non-list'); (l as unknown[]).push(...items); break; }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { const d = new Map(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is used before it is stored`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { const module = line(); stack.push(findGlobal(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL of non-strings');
        stack.push(findGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); stack.push(call(pop(), args)); break; } // REDUCE
      case 0x81: { const args = pop(); stack.push(call(pop(), args)); break; } // NEWOBJ
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        const g = typeof obj === 'object' && obj !== null ? builders.get(obj) : undefined;
        if (!g?.build) fail('BUILD (setting object state) on an object that does not take state');
        g!.build!(obj, state);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('a persistent id, but this file has no storage records');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ` +
          `(texad reads the pickles torch.save writes for state dicts; is this file a checkpoint?)`);
    }
  }
}
