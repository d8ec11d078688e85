#!/usr/bin/env bash
# Fetches an Apache Kafka 4.x broker (KRaft mode, no ZooKeeper) and all of its
# runtime dependencies from Maven Central into .cache/kafka/libs/.
#
#   scripts/kafka-fetch.sh
#
# Idempotent: prints nothing when the jars for the wanted version are already
# there, one line when it downloads. Exits non-zero with a message on failure.
#
# Environment:
#   SLUICE_KAFKA_VERSION   Kafka version to fetch (default below)
#   SLUICE_KAFKA_CACHE     where to put it (default <repo>/.cache/kafka)
set -euo pipefail

KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.3.1}"
# Log4j 2 binding so the broker and tools log (Kafka 4.x logs through log4j 2).
LOG4J_VERSION="2.25.4"

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SLUICE_KAFKA_CACHE:-$root/.cache/kafka}"
libs="$cache/libs"
stamp="$libs/.complete-$KAFKA_VERSION"

die() { echo "kafka-fetch: error: $*" >&2; exit 1; }

[ -f "$stamp" ] && exit 0

if ! command -v mvn >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "kafka-fetch: installing Maven (needed to resolve Kafka jars)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends maven; } >/dev/null ||
      die "could not install Maven with apt-get"
  else
    die "Maven ('mvn') is required to fetch Kafka from Maven Central; install it (apt-get install maven)"
  fi
fi
command -v java >/dev/null 2>&1 || die "Java 17+ is required (apt-get install openjdk-17-jre-headless)"

echo "kafka-fetch: downloading Apache Kafka $KAFKA_VERSION from Maven Central into ${libs#"$root"/}"
mkdir -p "$cache"

# A throw-away project whose runtime dependencies are exactly what we need:
#  - kafka_2.13: the broker (kafka.Kafka) and the storage tool (kafka.tools.StorageTool)
#  - kafka-tools: console producer/consumer, GetOffsetShell, topic tool; its
#    Kafka Connect dependency is not needed for those and is left out
#  - log4j-core + log4j-slf4j-impl: logging backend for slf4j 1.7 (what Kafka uses)
cat >"$cache/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.local</groupId>
  <artifactId>sluice-kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF

tmp="$cache/libs.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
log="$cache/fetch.log"
if ! (cd "$cache" && mvn -B -q -f pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1); then
  tail -n 30 "$log" >&2 || true
  die "Maven could not resolve Kafka $KAFKA_VERSION (full log: $log)"
fi
ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar "$tmp"/kafka-tools-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
  die "Kafka $KAFKA_VERSION jars missing after download (see $log)"

rm -rf "$libs"
mv "$tmp" "$libs"
touch "$stamp"
