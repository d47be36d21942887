// Two kinds of failure. A UserError is the user's to fix (a bad flag, file, dataset, folder or
// GPU setup): main prints its message as one paragraph. Anything else is a bug in kadapter:
// main prints its stack so that the report can point at the line.
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
