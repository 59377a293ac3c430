package mamba4j.testkit.conformance;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The {@link mamba4j.core.Backend} methods a conformance case exercises, by name. The completeness test of
 * {@link BackendConformance} fails when a public op of the front is named by no case, so a new op cannot land untested.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Covers {
    String[] value();
}
