// Reverse-mode autodiff over the graph that recorded ops attach to their outputs (Tensor.node).
import { add, full } from '../ops/elementwise.ts';
import { Tensor, formatShape, needsGrad } from './tensor.ts';

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: networks with hundreds of layers would overflow a recursive one.
  const stack: Array<[Tensor, boolean]> = [[root, false]];
  while (stack.length > 0) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? []) if (!seen.has(input) && needsGrad(input)) stack.push([input, false]);
  }
  return order;
}

/**
 * Accumulates d(loss)/d(leaf) into `leaf.grad` for every leaf with requiresGrad reachable from `loss`.
 * `loss` must be a single element unless `gradOutput` is given. Leaf gradients outlive the current scope;
 * intermediate gradients are disposed as soon as they are consumed.
 */
export function backward(loss: Tensor, gradOutput?: Tensor): void {
  const rt = loss.rt;
  if (!needsGrad(loss)) throw new Error('texad: backward() on a tensor that does not depend on any requiresGrad tensor');
  if (!gradOutput && loss.size !== 1) {
    throw new Error(`texad: backward() needs a scalar loss, got shape ${formatShape(loss.shape)}; pass gradOutput`);
  }
  rt.noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(loss, gradOutput ?? full(rt, loss.shape, 1));
    const order = topoOrder(loss);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        if (t.requiresGrad) {
          const acc = t.grad ? add(t.grad, g) : g;
          if (t.grad) {
            t.grad.dispose();
            if (g !== gradOutput) g.dispose();
          }
          t.grad = acc.keep();
        }
        continue;
      }
      const inputGrads = t.node.backward(g);
      t.node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (!gi || !needsGrad(input)) return;
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
          throw new Error(
            `texad: backward of ${t.node!.op} returned a gradient of shape ${formatShape(gi.shape)} ` +
              `for an input of shape ${formatShape(input.shape)}`,
          );
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, add(prev, gi));
          prev.dispose();
          gi.dispose();
        } else grads.set(input, gi);
      });
      if (g !== gradOutput && !inputGrads.includes(g)) g.dispose();
    }
  });
}
