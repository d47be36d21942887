// The downstream tasks by CLI name (finetune / eval / predict, and fine-tuned model folders).
import { RunError } from "../train/run.ts";
import { entityTypingTask } from "./entity_typing.ts";
import { some, type SomeFinetuneTask, type TaskSettings } from "./finetune_task.ts";
import { multipleChoiceTask } from "./multiple_choice.ts";
import { relationTask } from "./relation.ts";
import { spanQaTask } from "./span_qa.ts";

const TASKS = new Map<string, (s: TaskSettings) => SomeFinetuneTask>([
  ["entity-typing", (s) => some(entityTypingTask(s))],
  ["relation", (s) => some(relationTask(s))],
  ["multiple-choice", () => some(multipleChoiceTask())],
  ["span-qa", () => some(spanQaTask())],
]);

export function finetuneTask(name: string, settings: TaskSettings = {}): SomeFinetuneTask {
  const make = TASKS.get(name);
  if (!make) {
    throw new RunError(`unknown task "${name}"; tasks: ${[...TASKS.keys()].join(", ")}`);
  }
  return make(settings);
}
