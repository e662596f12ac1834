// Oracle for test/fixtures/version-vectors/maven.tsv: reads "A<TAB>B" lines on stdin and prints
// "A<TAB>op<TAB>B" with op from Maven's own ComparableVersion.compareTo.
// Run: java -cp maven-artifact-3.9.6.jar MavenVercmp.java < pairs
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenVercmp {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] p = line.split("\t", -1);
            int c = new ComparableVersion(p[0]).compareTo(new ComparableVersion(p[1]));
            System.out.println(p[0] + "\t" + (c < 0 ? "<" : c > 0 ? ">" : "=") + "\t" + p[1]);
        }
    }
}
