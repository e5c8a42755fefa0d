/** The slice of pino the engine uses (fastify's `app.log` satisfies it). */
export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
