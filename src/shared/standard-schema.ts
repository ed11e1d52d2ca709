/**
 * The Standard Schema interface (standardschema.dev), copied as its authors intend so that zod,
 * valibot and arktype schemas work here without Switchboard depending on any of them.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export declare namespace StandardSchemaV1 {
  type Result<Output> =
    | { readonly value: Output; readonly issues?: undefined }
    | { readonly issues: ReadonlyArray<Issue> };
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
  }
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];
}

export interface ValidationIssue {
  message: string;
  path: (string | number)[];
}

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

function toIssue(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
  return { message: issue.message, path };
}

/** Runs a schema and turns its issues into plain, serialisable objects for an error reply. */
export async function validate<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
): Promise<Validated<StandardSchemaV1.InferOutput<S>>> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) return { ok: false, issues: result.issues.slice(0, 20).map(toIssue) };
  return { ok: true, value: result.value as StandardSchemaV1.InferOutput<S> };
}
