// A restricted unpickler: the opcodes a PyTorch state dict uses (protocol 2, plus protocol 4's
// framing and memo shorthands), and only the globals its caller allows. Unpickling can run any
// code a file names, so a global outside the allowed table is refused when it is read, before
// anything is called; there is no object construction (no NEWOBJ, no BUILD on objects) at all.
//
// Values: None is null, bool is boolean, ints are numbers (bigint past 2^53), floats numbers,
// str string, bytes Uint8Array, lists and tuples arrays, dicts Maps.
import { UserError } from "../errors.ts";

export class PickleError extends UserError {
}

/** An allowed global: called by REDUCE with its argument tuple. */
export type PyCallable = (args: unknown[]) => unknown;

/** A global the table resolved: what REDUCE may call. */
export class Global {
  constructor(readonly name: string, readonly call: PyCallable) {}
}

export interface UnpickleOptions {
  /** Allowed globals by "module.name"; anything else is refused. */
  globals: Readonly<Record<string, PyCallable>>;
  /** Resolves a BINPERSID id (PyTorch's storages); absent: persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
}

const MARK = Symbol("mark");
const OPNAMES: Record<number, string> = { 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x69: "INST" };

/**
 * Unpickles one pickle starting at `at`; returns the value and the offset after its STOP.
 * Throws PickleError (with `where` in the message) on refused globals and malformed input.
 */
export function unpickle(
  bytes: Uint8Array,
  opts: UnpickleOptions,
  where: string,
  at = 0,
): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (msg: string) => new PickleError(`${where}: ${msg}`);
  const need = (n: number) => {
    if (at + n > bytes.length) throw fail("the pickle ends early (truncated or corrupt file)");
    const start = at;
    at += n;
    return start;
  };
  const u8 = () => bytes[need(1)];
  const u32 = () => view.getUint32(need(4), true);
  const take = (n: number) => bytes.subarray(need(n), at);
  const utf8 = (n: number) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(take(n));
    } catch {
      throw fail("a string is not valid UTF-8 (corrupt file)");
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw fail("the pickle ends early (truncated or corrupt file)");
    return new TextDecoder("latin1").decode(take(end - at + 1)).slice(0, -1);
  };
  const stack: unknown[] = [], memo = new Map<number, unknown>();
  const pop = () => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw fail("stack underflow");
    return stack.pop();
  };
  const popMark = () => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw fail("no mark on the stack (corrupt file)");
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = () => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw fail("stack underflow");
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    const call = Object.hasOwn(opts.globals, full) ? opts.globals[full] : undefined;
    if (!call) {
      throw fail(
        `refusing to load: the file calls ${full.slice(0, 100)}; kadapter never runs code ` +
          `from a file (it reads only tensors, dicts and lists)`,
      );
    }
    return new Global(full, call);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) throw fail("SETITEMS on something that is not a dict");
    if (items.length % 2 !== 0) throw fail("SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) throw fail("APPEND on something that is not a list");
    list.push(...items);
  };
  const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
  const int = (v: bigint) => (v <= SAFE && v >= -SAFE ? Number(v) : v);
  const long = (n: number) => {
    const b = take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return int(v);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`memo entry ${i} read before it was written (corrupt file)`);
    return memo.get(i);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw fail(`pickle protocol ${v} is newer than any Python writes`);
        break;
      }
      case 0x95: // FRAME: a length prefix only
        need(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw fail("the pickle stops with a malformed stack");
        return { value: stack[0], end: at };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        stack.push(op === 0x88);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: // LONG1
        stack.push(long(u8()));
        break;
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0 || n > 64) throw fail(`an integer of ${n} bytes (corrupt file)`);
        stack.push(long(n));
        break;
      }
      case 0x47: // BINFLOAT: big-endian
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(items);
        break;
      }
      case 0x64: { // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof name !== "string" || typeof module !== "string") {
          throw fail("STACK_GLOBAL without two strings (corrupt file)");
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), f = pop();
        if (!(f instanceof Global) || !Array.isArray(args)) {
          throw fail("REDUCE of something that is not an allowed global (corrupt file)");
        }
        stack.push(f.call(args));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw fail("a persistent id where none is allowed");
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x62: { // BUILD: only a dict's attributes (a state dict's _metadata), dropped
        const state = pop();
        if (!(top() instanceof Map) || !(state instanceof Map || state === null)) {
          throw fail("BUILD of an object; kadapter reads only tensors, dicts and lists");
        }
        break;
      }
      default: {
        const name = OPNAMES[op];
        throw fail(
          name
            ? `refusing to load: opcode ${name} builds objects; kadapter reads only tensors`
            : `unknown or unsupported pickle opcode 0x${op.toString(16)} (corrupt file?)`,
        );
      }
    }
  }
}
