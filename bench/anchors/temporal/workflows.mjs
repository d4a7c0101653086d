// Anchor for the end-to-end benchmark: the bare Temporal shape of an intent. Started, it waits
// for one `resume` update, answers it and completes with its value.
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

export const resume = defineUpdate('resume');

export async function bareIntent() {
  let result;
  setHandler(resume, (value) => {
    result = value;
    return { status: 'COMPLETED' };
  });
  await condition(() => result !== undefined);
  return result;
}
