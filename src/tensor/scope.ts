// Scope-based ownership: tensors made inside tidy() are disposed when it returns, except
// the ones it returns (which move to the enclosing scope) and the ones kept.
import type { Tensor } from "./tensor.ts";

const stack: Set<Tensor>[] = [];

export function register(t: Tensor): void {
  stack.at(-1)?.add(t);
}

/** Takes a tensor out of every scope: it lives until disposed explicitly. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(x: unknown, out: Set<Tensor>): void {
  if (x === null || typeof x !== "object") return;
  if ("storage" in x && "shape" in x) out.add(x as Tensor);
  else if (Array.isArray(x)) x.forEach((v) => collect(v, out));
  else if (Object.getPrototypeOf(x) === Object.prototype) {
    Object.values(x).forEach((v) => collect(v, out));
  }
}

/** Runs a synchronous fn; disposes the tensors it made that it does not return. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error("tidy() takes a synchronous function");
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  const returned = new Set<Tensor>();
  collect(result, returned);
  for (const t of scope) {
    if (returned.has(t)) register(t);
    else t.dispose();
  }
  return result;
}
