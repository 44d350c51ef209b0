/** This framework's version, as package.json gives it (INFO's `finn_version`, the clone's `-version`). */
import packageJson from "../package.json" with { type: "json" };

export const finnVersion: string = packageJson.version;
