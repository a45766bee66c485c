// Validates an OpenAPI file with @apidevtools/swagger-parser (schema and
// references); exits 1 with the problem on failure.
import SwaggerParser from "@apidevtools/swagger-parser";

try {
  await SwaggerParser.validate(process.argv[2]);
  console.log("valid");
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
