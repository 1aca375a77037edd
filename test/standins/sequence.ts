/**
 * One order for every request the stand-ins of a test process answer: the AWS stand-in numbers its
 * calls with it, and a test numbers the Kubernetes stand-in's requests with it (its request hook),
 * so "the entry was deleted before the action was completed" is a comparison of two numbers.
 */
let last = 0;

export function nextSequence(): number {
  last += 1;
  return last;
}
